using System.Globalization;
using Registry.Api.Oci;
using Registry.Grains;

namespace Registry.Api.Lifecycle;

/// <summary>How a namespace quota's refusal reads on <c>/v2</c> (docs/quotas.md).</summary>
public static class QuotaErrors
{
    /// <summary>
    /// Bytes: 403 <c>DENIED</c> (a push that cannot succeed until someone deletes or raises the
    /// limit). Repositories: 429 <c>TOOMANYREQUESTS</c>. Both name the limit and the usage.
    /// </summary>
    public static OciError ToOciError(this QuotaRefusal refusal) => refusal.Resource switch
    {
        QuotaResource.Repositories => new OciErrorCode(
                OciErrorCode.TooManyRequests.Code,
                Invariant($"repository quota exceeded: namespace '{refusal.Namespace}' holds {refusal.Used} repositories, its limit is {refusal.Limit}"),
                OciErrorCode.TooManyRequests.Status)
            .WithDetail(Invariant($"limit {refusal.Limit} repositories, used {refusal.Used}")),
        _ => new OciErrorCode(
                OciErrorCode.Denied.Code,
                Invariant($"storage quota exceeded: adding {refusal.Requested} bytes to the {refusal.Used} bytes namespace '{refusal.Namespace}' uses would exceed its limit of {refusal.Limit} bytes"),
                OciErrorCode.Denied.Status)
            .WithDetail(Invariant($"limit {refusal.Limit} bytes, used {refusal.Used}, requested {refusal.Requested}")),
    };

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
