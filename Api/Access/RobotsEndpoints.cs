using System.Globalization;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// <c>/apis/registry/v1/namespaces/{ns}/robots[/{name}]</c>: a namespace's admins create, list,
/// read and delete (revoke) its robot accounts. The secret is in the create answer only and is
/// stored hashed. A robot cannot create robots: its confinement holds no namespace item.
/// </summary>
public sealed partial class RobotsEndpoints(IdentityRequests requests, IGrainFactory grains, TimeProvider time, ILogger<RobotsEndpoints> logger)
{
    public const string Path = "/apis/registry/v1/namespaces/{ns}/robots";
    public const string Kind = "Robot";
    public const int MaxRepositories = 64;

    /// <summary>The actions a robot may be given; push implies pull, as every push also reads.</summary>
    public static readonly string[] RobotActions = [Actions.Pull, Actions.Push, Actions.Delete, Actions.Overwrite];

    public async Task<IResult> ListAsync(HttpContext context, string ns)
    {
        var (caller, error) = await NamespaceAdminAsync(context, ns, "list the robots of");
        if (caller is null)
        {
            return error!;
        }

        var robots = await grains.GetGrain<IRobotsGrain>(ns).List();
        return TypedResults.Json(
            new RobotList(IdentityRequests.ApiVersion, Kind + "List", new ListMeta(), [.. robots.Select(r => ToDocument(ns, r, null))]),
            IdentityJsonContext.Default.RobotList);
    }

    public async Task<IResult> GetAsync(HttpContext context, string ns, string name)
    {
        var (caller, error) = await requests.AuthenticateAsync(context);
        if (caller is null)
        {
            return error!;
        }

        // A robot may read itself (its expiry, its scope); anything else needs the namespace's admin.
        var self = caller.Identity.Kind == IdentityKind.Robot && caller.Identity.Name == RobotSecret.Login(ns, name);
        if (!self && !await requests.AllowsAsync(caller, AccessItem.Namespace(ns, Actions.Admin)))
        {
            return Forbidden(caller, "read the robots of", ns);
        }

        return IdentityRequests.IsValidNamespace(ns) && IdentityRequests.IsValidName(name) && await grains.GetGrain<IRobotsGrain>(ns).Get(name) is { } robot
            ? TypedResults.Json(ToDocument(ns, robot, null), IdentityJsonContext.Default.RobotDocument)
            : NotFound(ns, name);
    }

    public async Task<IResult> CreateAsync(HttpContext context, string ns)
    {
        var (caller, error) = await NamespaceAdminAsync(context, ns, "create robots in");
        if (caller is null)
        {
            return error!;
        }

        var (document, invalid) = await IdentityRequests.ReadAsync(context, IdentityJsonContext.Default.RobotDocument);
        if (document is null)
        {
            return invalid!;
        }

        var name = document.Metadata?.Name;
        var spec = document.Spec ?? new RobotSpec();
        var repositories = spec.Repositories is { Count: > 0 } listed ? listed : [ns + "/*"];
        var actions = spec.Actions is { Count: > 0 } given ? given : [Actions.Pull];
        var problem = IdentityRequests.CheckKind(document.ApiVersion, document.Kind, Kind)
            ?? (document.Status is not null ? KubeStatus.BadRequest("status is written by the registry, not sent") : null)
            ?? (!IdentityRequests.IsValidName(name) ? KubeStatus.Invalid($"metadata.name '{name}' must be a DNS label: 1 to 63 lower case letters, digits or '-', starting and ending with a letter or digit") : null)
            ?? (document.Metadata?.Namespace is { } named && named != ns ? KubeStatus.BadRequest($"metadata.namespace '{named}' does not match the namespace in the path '{ns}'") : null)
            ?? RepositoriesError(ns, repositories)
            ?? (actions.FirstOrDefault(a => !RobotActions.Contains(a, StringComparer.Ordinal)) is { } action ? KubeStatus.Invalid($"spec.actions: '{action}' is not one of {string.Join(", ", RobotActions)}") : null)
            ?? (spec.ExpiresAt <= time.GetUtcNow() ? KubeStatus.Invalid("spec.expiresAt lies in the past") : null);
        if (problem is not null)
        {
            return problem;
        }

        var secret = RobotSecret.New(ns, name!);
        var robot = new Robot(name!, RobotSecret.Hash(secret), [.. repositories.Distinct(StringComparer.Ordinal)], [.. actions.Append(Actions.Pull).Distinct(StringComparer.Ordinal)], spec.ExpiresAt, default, caller.Identity.Name, null, 0);
        var (outcome, stored) = await grains.GetGrain<IRobotsGrain>(ns).Create(robot);
        switch (outcome)
        {
            case RobotOutcome.Exists:
                return KubeStatus.AlreadyExists($"robots \"{name}\" already exists in the namespace {ns}");
            case RobotOutcome.TooMany:
                return KubeStatus.Invalid($"the namespace {ns} holds {IRobotsGrain.Limit} robots already, the most it may: delete one first");
        }

        LogCreated(logger, caller.Identity.Name, RobotSecret.Login(ns, name!));
        return TypedResults.Json(ToDocument(ns, stored!, secret), IdentityJsonContext.Default.RobotDocument, statusCode: StatusCodes.Status201Created);
    }

    public async Task<IResult> DeleteAsync(HttpContext context, string ns, string name)
    {
        var (caller, error) = await NamespaceAdminAsync(context, ns, "delete robots of");
        if (caller is null)
        {
            return error!;
        }

        if (!IdentityRequests.IsValidName(name) || await grains.GetGrain<IRobotsGrain>(ns).Delete(name) is not { } removed)
        {
            return NotFound(ns, name);
        }

        LogRevoked(logger, caller.Identity.Name, RobotSecret.Login(ns, name));
        return TypedResults.Json(ToDocument(ns, removed, null), IdentityJsonContext.Default.RobotDocument);
    }

    private async Task<(Caller? Caller, IResult? Error)> NamespaceAdminAsync(HttpContext context, string ns, string verb)
    {
        var (caller, error) = await requests.AuthenticateAsync(context);
        if (caller is null)
        {
            return (null, error);
        }

        if (!IdentityRequests.IsValidNamespace(ns))
        {
            return (null, KubeStatus.BadRequest($"'{ns}' is not a namespace: one repository path component (lower case letters, digits, and '.', '_' or '-' between them)"));
        }

        return await requests.AllowsAsync(caller, AccessItem.Namespace(ns, Actions.Admin)) ? (caller, null) : (null, Forbidden(caller, verb, ns));
    }

    /// <summary>Each entry is a repository of the namespace, or <c>&lt;prefix&gt;/*</c> for all under a prefix of it.</summary>
    private static KubeStatus? RepositoriesError(string ns, IReadOnlyList<string> repositories)
    {
        if (repositories.Count > MaxRepositories)
        {
            return KubeStatus.Invalid($"spec.repositories: at most {MaxRepositories} entries");
        }

        foreach (var entry in repositories)
        {
            var repository = entry.EndsWith("/*", StringComparison.Ordinal) ? entry[..^2] : entry;
            if (!(repository == ns || repository.StartsWith(ns + "/", StringComparison.Ordinal)) || !IdentityRequests.IsValidRepository(repository))
            {
                return KubeStatus.Invalid($"spec.repositories: '{entry}' is not a repository of the namespace {ns} (e.g. {ns}/app, or {ns}/team/* for all under {ns}/team)");
            }
        }

        return null;
    }

    private static KubeStatus Forbidden(Caller caller, string verb, string ns)
        => KubeStatus.Forbidden($"'{caller.Identity.Name}' may not {verb} the namespace {ns}: that needs the namespace's admin");

    private static KubeStatus NotFound(string ns, string name) => KubeStatus.NotFound($"robots \"{name}\" not found in the namespace {ns}");

    private RobotDocument ToDocument(string ns, Robot robot, string? secret) => new()
    {
        ApiVersion = IdentityRequests.ApiVersion,
        Kind = Kind,
        Metadata = new ObjectMeta
        {
            Name = robot.Name,
            Namespace = ns,
            ResourceVersion = robot.Version.ToString(CultureInfo.InvariantCulture),
            CreationTimestamp = IdentityRequests.Timestamp(robot.CreatedAt),
        },
        Spec = new RobotSpec { Repositories = robot.Repositories, Actions = robot.Actions, ExpiresAt = robot.ExpiresAt },
        Status = new RobotStatus
        {
            LoginName = RobotSecret.Login(ns, robot.Name),
            Secret = secret,
            LastUsedAt = robot.LastUsedAt is { } used ? IdentityRequests.Timestamp(used) : null,
            Expired = robot.ExpiresAt <= time.GetUtcNow(),
        },
    };

    [LoggerMessage(44, LogLevel.Information, "{Caller} created the robot {Robot}")]
    private static partial void LogCreated(ILogger logger, string caller, string robot);

    [LoggerMessage(45, LogLevel.Information, "{Caller} revoked the robot {Robot}")]
    private static partial void LogRevoked(ILogger logger, string caller, string robot);
}
