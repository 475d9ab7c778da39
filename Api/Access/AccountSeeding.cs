using Orleans.Storage;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>Creates accounts at start in a way that survives replicas starting together.</summary>
public static class AccountSeeding
{
    private const int Attempts = 5;

    /// <summary>
    /// Creates the account unless it exists; true when this call created it. Before the replicas'
    /// membership views agree, two of them may each hold an activation of the same account, and the
    /// second write then fails; the failed activation is dropped, so the retry reads the stored account.
    /// </summary>
    public static async Task<bool> CreateAsync(IAccountGrain account, string passwordHash, bool isAdmin)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await account.Create(passwordHash, [], isAdmin);
            }
            catch (InconsistentStateException) when (attempt < Attempts)
            {
            }
        }
    }
}
