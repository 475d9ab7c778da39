using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Registry.Api.Access;
using Registry.Api.Json;
using Registry.Api.Kube;
using Registry.Grains;

namespace Registry.Api.Collection;

/// <summary>
/// <c>POST /apis/registry/v1/garbagecollections</c> starts a collection (body optional:
/// <c>{"spec":{"dryRun":true}}</c>) and answers once it finished (201), or after
/// <see cref="WaitLimit"/> with it still running (202); <c>GET …/garbagecollections/last</c> is the
/// last finished one (or the running one). Needs the registry's admin permission once access control
/// wires it (docs/garbage-collection.md).
/// </summary>
public sealed class GarbageCollectionEndpoint(IGrainFactory grains, TimeProvider time)
{
    public const string Path = "/apis/registry/v1/garbagecollections";

    /// <summary>How long a POST waits for its collection before answering 202 with it running.</summary>
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(20);

    private const int BodyLimit = 4096;

    private IGarbageCollectionGrain Owner => grains.GetGrain<IGarbageCollectionGrain>(0);

    public async Task<IResult> StartAsync(HttpContext context)
    {
        if (await ApiAccess.AuthorizeAsync(context, AccessItem.WholeRegistry(Actions.Admin)) is { } refused)
        {
            return refused;
        }

        var request = await ReadAsync(context);
        if (request.Error is { } error)
        {
            return error;
        }

        var start = await Owner.Start(request.DryRun);
        if (!start.Started)
        {
            return KubeStatus.Conflict($"garbage collection {start.Run.Id} is running since {start.Run.StartedAt:O}; GET {Path}/last shows it, and a new one may start once it finished");
        }

        var deadline = time.GetUtcNow() + WaitLimit;
        while (true)
        {
            var status = await Owner.GetStatus();
            if (status.Last is { } last && last.Id == start.Run.Id)
            {
                return Results.Json(Resource(null, last), ApiJsonContext.Default.GarbageCollectionResource, statusCode: 201);
            }

            if (time.GetUtcNow() >= deadline)
            {
                return Results.Json(Resource(start.Run, null), ApiJsonContext.Default.GarbageCollectionResource, statusCode: 202);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), time, context.RequestAborted);
        }
    }

    public async Task<IResult> LastAsync(HttpContext context)
    {
        if (await ApiAccess.AuthorizeAsync(context, AccessItem.WholeRegistry(Actions.Admin)) is { } refused)
        {
            return refused;
        }

        var status = await Owner.GetStatus();
        return status.Running is null && status.Last is null
            ? KubeStatus.NotFound("no garbage collection has run yet: POST " + Path + " starts one")
            : Results.Json(Resource(status.Running, status.Last), ApiJsonContext.Default.GarbageCollectionResource);
    }

    private static async Task<(bool DryRun, IResult? Error)> ReadAsync(HttpContext context)
    {
        if (context.Request.ContentLength is > BodyLimit)
        {
            return (false, KubeStatus.RequestEntityTooLarge($"a GarbageCollection request is at most {BodyLimit} bytes"));
        }

        // Bounded as it is read: a chunked body says no length, and copied whole it could be any size.
        if (await Services.RequestBodies.ReadBoundedAsync(context.Request.Body, BodyLimit, context.RequestAborted) is not { } body)
        {
            return (false, KubeStatus.RequestEntityTooLarge($"a GarbageCollection request is at most {BodyLimit} bytes"));
        }

        if (body.Length == 0)
        {
            return (false, null);
        }

        try
        {
            var request = JsonSerializer.Deserialize(body, ApiJsonContext.Default.GarbageCollectionRequest);
            if (request?.Kind is { } kind && kind != "GarbageCollection")
            {
                return (false, KubeStatus.BadRequest($"kind {kind} is not GarbageCollection"));
            }

            return (request?.Spec?.DryRun ?? false, null);
        }
        catch (JsonException e)
        {
            return (false, KubeStatus.BadRequest($"the body is not a GarbageCollection: {e.Message}"));
        }
    }

    private static GarbageCollectionResource Resource(GarbageCollectionRun? running, GarbageCollectionReport? last)
    {
        if (running is not null)
        {
            return new GarbageCollectionResource(
                "registry/v1", "GarbageCollection", new GarbageCollectionMeta(running.Id), new GarbageCollectionSpec(running.DryRun),
                new GarbageCollectionState("Running", running.StartedAt, null, null, 0, 0, 0, 0, [], null, running.Attempt, 0, 0, 0, 0, 0, 0, 0, 0));
        }

        var r = last!;
        return new GarbageCollectionResource(
            "registry/v1", "GarbageCollection", new GarbageCollectionMeta(r.Id), new GarbageCollectionSpec(r.DryRun),
            new GarbageCollectionState(
                r.Error is null ? "Succeeded" : "Failed", r.StartedAt, r.FinishedAt, (r.FinishedAt - r.StartedAt).TotalSeconds,
                r.BlobsExamined, r.BytesExamined, r.BlobsReclaimed, r.BytesReclaimed, r.Digests, r.Error, r.Attempt, r.RepositoriesMarked,
                r.StraysReclaimed, r.StrayBytesReclaimed, r.RepositoriesRemoved, r.ManifestsRemoved, r.LinksRemoved,
                r.UploadsReclaimed, r.UploadBytesReclaimed));
    }
}

/// <summary>What a POST asks for; an unknown field is refused, so a misplaced <c>dryRun</c> never starts a real run.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record GarbageCollectionRequest(
    [property: JsonPropertyName("apiVersion")] string? ApiVersion,
    [property: JsonPropertyName("kind")] string? Kind,
    [property: JsonPropertyName("metadata")] System.Text.Json.JsonElement? Metadata,
    [property: JsonPropertyName("spec")] GarbageCollectionSpec? Spec);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record GarbageCollectionSpec([property: JsonPropertyName("dryRun")] bool DryRun);

public sealed record GarbageCollectionMeta([property: JsonPropertyName("name")] string Name);

/// <summary>The wire shape of a collection; <c>status.reclaimedDigests</c> names at most the first 1000.</summary>
public sealed record GarbageCollectionResource(
    [property: JsonPropertyName("apiVersion")] string ApiVersion,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("metadata")] GarbageCollectionMeta Metadata,
    [property: JsonPropertyName("spec")] GarbageCollectionSpec Spec,
    [property: JsonPropertyName("status")] GarbageCollectionState Status);

/// <summary>In a dry run, "reclaimed" counts what the collection would have deleted.</summary>
public sealed record GarbageCollectionState(
    [property: JsonPropertyName("phase")] string Phase,
    [property: JsonPropertyName("startedAt")] DateTimeOffset StartedAt,
    [property: JsonPropertyName("finishedAt")] DateTimeOffset? FinishedAt,
    [property: JsonPropertyName("durationSeconds")] double? DurationSeconds,
    [property: JsonPropertyName("blobsExamined")] long BlobsExamined,
    [property: JsonPropertyName("bytesExamined")] long BytesExamined,
    [property: JsonPropertyName("blobsReclaimed")] long BlobsReclaimed,
    [property: JsonPropertyName("bytesReclaimed")] long BytesReclaimed,
    [property: JsonPropertyName("reclaimedDigests")] IReadOnlyList<string> ReclaimedDigests,
    [property: JsonPropertyName("error")] string? Error,
    [property: JsonPropertyName("attempt")] int Attempt,
    [property: JsonPropertyName("repositoriesMarked")] long RepositoriesMarked,
    [property: JsonPropertyName("straysReclaimed")] long StraysReclaimed,
    [property: JsonPropertyName("strayBytesReclaimed")] long StrayBytesReclaimed,
    [property: JsonPropertyName("repositoriesRemoved")] long RepositoriesRemoved,
    [property: JsonPropertyName("manifestsRemoved")] long ManifestsRemoved,
    [property: JsonPropertyName("linksRemoved")] long LinksRemoved,
    [property: JsonPropertyName("uploadsReclaimed")] long UploadsReclaimed,
    [property: JsonPropertyName("uploadBytesReclaimed")] long UploadBytesReclaimed);
