using System.Globalization;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Access;

/// <summary>
/// <c>/apis/registry/v1/users[/{name}]</c>: registry admins create, list, read, change and delete
/// accounts; a user may read itself and change its own password, and nothing else. Privilege
/// fields (groups, admin) sent by anyone but an admin are refused unless they repeat what is
/// stored, so a user cannot make itself an admin. The password hash is never answered.
/// </summary>
public sealed partial class UsersEndpoints(IdentityRequests requests, IGrainFactory grains, ILogger<UsersEndpoints> logger)
{
    public const string Path = "/apis/registry/v1/users";
    public const string Kind = "User";
    private const int DefaultPage = 500;

    private static readonly AccessItem RegistryAdmin = AccessItem.WholeRegistry(Actions.Admin);

    public async Task<IResult> ListAsync(HttpContext context)
    {
        var (caller, error) = await AdminAsync(context);
        if (caller is null)
        {
            return error!;
        }

        var query = context.Request.Query;
        var limit = DefaultPage;
        if (query["limit"] is [{ } text] && (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > DefaultPage))
        {
            return KubeStatus.BadRequest($"limit must be a number from 1 to {DefaultPage}");
        }

        var after = query["continue"] is [{ Length: > 0 } next] ? next : null;
        var (names, more) = await grains.GetGrain<IAccountDirectoryGrain>(0).List(after, limit);
        var accounts = await Task.WhenAll(names.Select(n => grains.GetGrain<IAccountGrain>(n).Get().AsTask()));
        var items = accounts.OfType<Account>().Select(ToDocument).ToList();
        return TypedResults.Json(
            new UserList(IdentityRequests.ApiVersion, Kind + "List", new ListMeta { Continue = more ? names[^1] : null }, items),
            IdentityJsonContext.Default.UserList);
    }

    public async Task<IResult> GetAsync(HttpContext context, string name)
    {
        if (!IdentityRequests.IsValidName(name))
        {
            return NotFound(name);
        }

        var (caller, error) = await requests.AuthenticateAsync(context);
        if (caller is null)
        {
            return error!;
        }

        if (!await requests.AllowsAsync(caller, RegistryAdmin) && !IsSelf(caller, name))
        {
            return Forbidden(caller, "read the user", name);
        }

        return await grains.GetGrain<IAccountGrain>(name).Get() is { } account
            ? TypedResults.Json(ToDocument(account), IdentityJsonContext.Default.UserDocument)
            : NotFound(name);
    }

    public async Task<IResult> CreateAsync(HttpContext context)
    {
        var (caller, error) = await AdminAsync(context);
        if (caller is null)
        {
            return error!;
        }

        var (document, invalid) = await IdentityRequests.ReadAsync(context, IdentityJsonContext.Default.UserDocument);
        if (document is null)
        {
            return invalid!;
        }

        var name = document.Metadata?.Name;
        var spec = document.Spec ?? new UserSpec();
        var problem = IdentityRequests.CheckKind(document.ApiVersion, document.Kind, Kind)
            ?? (!IdentityRequests.IsValidName(name) ? KubeStatus.Invalid($"metadata.name '{name}' must be a DNS label: 1 to 63 lower case letters, digits or '-', starting and ending with a letter or digit") : null)
            ?? (spec.Password is not { } password ? KubeStatus.Invalid("spec.password is required for a new user") : null)
            ?? (IdentityRequests.PasswordError(spec.Password!) is { } weak ? KubeStatus.Invalid($"spec.password: {weak}") : null)
            ?? (IdentityRequests.GroupsError(spec.Groups ?? []) is { } groups ? KubeStatus.Invalid($"spec.groups: {groups}") : null);
        if (problem is not null)
        {
            return problem;
        }

        var hash = await Task.Run(() => PasswordHashing.Hash(spec.Password!));
        var account = grains.GetGrain<IAccountGrain>(name!);
        if (!await account.Create(hash, spec.Groups ?? [], spec.Admin ?? false))
        {
            return KubeStatus.AlreadyExists($"users \"{name}\" already exists");
        }

        LogChanged(logger, caller.Identity.Name, "created", name!);
        return TypedResults.Json(ToDocument((await account.Get())!), IdentityJsonContext.Default.UserDocument, statusCode: StatusCodes.Status201Created);
    }

    public async Task<IResult> ReplaceAsync(HttpContext context, string name)
    {
        if (!IdentityRequests.IsValidName(name))
        {
            return NotFound(name);
        }

        var (caller, error) = await requests.AuthenticateAsync(context);
        if (caller is null)
        {
            return error!;
        }

        var isAdmin = await requests.AllowsAsync(caller, RegistryAdmin);
        if (!isAdmin && !IsSelf(caller, name))
        {
            return Forbidden(caller, "change the user", name);
        }

        var (document, invalid) = await IdentityRequests.ReadAsync(context, IdentityJsonContext.Default.UserDocument);
        if (document is null)
        {
            return invalid!;
        }

        var spec = document.Spec ?? new UserSpec();
        long? expected = null;
        var problem = IdentityRequests.CheckKind(document.ApiVersion, document.Kind, Kind)
            ?? (document.Metadata?.Name is { } named && named != name ? KubeStatus.BadRequest($"metadata.name '{named}' does not match the name in the path '{name}'") : null)
            ?? (document.Metadata?.ResourceVersion is { } version && !TryVersion(version, out expected) ? KubeStatus.BadRequest($"metadata.resourceVersion '{version}' is not one this API wrote") : null)
            ?? (spec.Password is { } password && IdentityRequests.PasswordError(password) is { } weak ? KubeStatus.Invalid($"spec.password: {weak}") : null)
            ?? (spec.Groups is { } list && IdentityRequests.GroupsError(list) is { } groups ? KubeStatus.Invalid($"spec.groups: {groups}") : null);
        if (problem is not null)
        {
            return problem;
        }

        var account = grains.GetGrain<IAccountGrain>(name);
        if (await account.Get() is not { } current)
        {
            return NotFound(name);
        }

        // Mass assignment: only an admin changes privileges; a user sending them back unchanged (a GET, edited and PUT) is fine.
        if (!isAdmin && ((spec.Admin is { } admin && admin != current.IsAdmin) || (spec.Groups is { } wanted && !wanted.ToHashSet(StringComparer.Ordinal).SetEquals(current.Groups))))
        {
            return KubeStatus.Forbidden($"'{caller.Identity.Name}' may change its own password only; spec.groups and spec.admin are for registry admins");
        }

        var hash = spec.Password is { } secret ? await Task.Run(() => PasswordHashing.Hash(secret)) : null;
        var result = await account.Update(new AccountUpdate(expected, hash, isAdmin ? spec.Groups : null, isAdmin ? spec.Admin : null));
        switch (result.Outcome)
        {
            case AccountOutcome.NotFound:
                return NotFound(name);
            case AccountOutcome.Conflict:
                return KubeStatus.Conflict($"Operation cannot be fulfilled on users \"{name}\": the object has been modified; please apply your changes to the latest version (resourceVersion {result.Account!.Version}) and try again");
        }

        LogChanged(logger, caller.Identity.Name, hash is null ? "changed" : "changed (with its password)", name);
        return TypedResults.Json(ToDocument(result.Account!), IdentityJsonContext.Default.UserDocument);
    }

    public async Task<IResult> DeleteAsync(HttpContext context, string name)
    {
        if (!IdentityRequests.IsValidName(name))
        {
            return NotFound(name);
        }

        var (caller, error) = await AdminAsync(context);
        if (caller is null)
        {
            return error!;
        }

        var account = grains.GetGrain<IAccountGrain>(name);
        if (await account.Get() is not { } current)
        {
            return NotFound(name);
        }

        await account.Delete();
        LogChanged(logger, caller.Identity.Name, "deleted", name);
        return TypedResults.Json(ToDocument(current), IdentityJsonContext.Default.UserDocument);
    }

    /// <summary>A user acting on its own account with its password (not a robot, an external user or a token of ours).</summary>
    private static bool IsSelf(Caller caller, string name) => caller.Identity.Kind == IdentityKind.User && caller.Token is null && !caller.ByToken && caller.Identity.Name == name;

    private async Task<(Caller? Caller, IResult? Error)> AdminAsync(HttpContext context)
    {
        var (caller, error) = await requests.AuthenticateAsync(context);
        if (caller is null)
        {
            return (null, error);
        }

        return await requests.AllowsAsync(caller, RegistryAdmin) ? (caller, null) : (null, Forbidden(caller, "manage", "users"));
    }

    private static bool TryVersion(string text, out long? version)
    {
        var ok = long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed);
        version = parsed;
        return ok;
    }

    private static KubeStatus Forbidden(Caller caller, string verb, string what)
        => KubeStatus.Forbidden($"'{caller.Identity.Name}' may not {verb} {what}: that needs a registry admin");

    private static KubeStatus NotFound(string name) => KubeStatus.NotFound($"users \"{name}\" not found");

    public static UserDocument ToDocument(Account account) => new()
    {
        ApiVersion = IdentityRequests.ApiVersion,
        Kind = Kind,
        Metadata = new ObjectMeta
        {
            Name = account.Name,
            ResourceVersion = account.Version.ToString(CultureInfo.InvariantCulture),
            CreationTimestamp = IdentityRequests.Timestamp(account.CreatedAt),
        },
        Spec = new UserSpec { Groups = account.Groups, Admin = account.IsAdmin },
    };

    [LoggerMessage(43, LogLevel.Information, "{Caller} {Change} the user {User}")]
    private static partial void LogChanged(ILogger logger, string caller, string change, string user);
}
