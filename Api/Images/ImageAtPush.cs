using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using Registry.Api.Events;
using Registry.Api.Extensions;
using Registry.Grains;

namespace Registry.Api.Images;

/// <summary>
/// Keeps each image's grain up to date right after its manifest is acknowledged, off the request's
/// path: an in-process subscriber of the registry-wide stream that, for each manifest pushed
/// (by tag or digest, a mapping, a copy across repositories), computes the image's facts and
/// records the repository among its holders, and for each manifest deleted rechecks the holding.
/// Work goes through a bounded queue to <see cref="ImageApiOptions.FactsWorkers"/> workers; when
/// the queue is full the facts are left to the first read (the lazy path of
/// <see cref="ImageFactsService"/>), and only the holding, which must not be lost, is recorded at once.
/// Only the replica that served the change does the work (events without a replica, such as
/// garbage collection's, are done by every replica: a recheck is idempotent).
/// </summary>
public sealed partial class ImageAtPush : IRegistryEventSubscriber, IHostedService, IDisposable
{
    private const string BlobMediaType = "application/octet-stream";

    private readonly Channel<Work> _queue;
    private readonly IGrainFactory _grains;
    private readonly ImageFactsService _facts;
    private readonly ImageApiOptions _options;
    private readonly ILogger<ImageAtPush> _logger;
    private readonly Counter<long> _deferred;
    private readonly CancellationTokenSource _stopping = new();
    private Task[] _workers = [];

    private sealed record Work(string Repository, string Digest, bool Pushed);

    public ImageAtPush(IGrainFactory grains, ImageFactsService facts, IOptions<ImageApiOptions> options, RegistryMeter meter, ILogger<ImageAtPush> logger)
    {
        _grains = grains;
        _facts = facts;
        _options = options.Value;
        _logger = logger;
        _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(_options.FactsQueueCapacity) { FullMode = BoundedChannelFullMode.Wait });
        _deferred = meter.Meter.CreateCounter<long>("registry.image.facts_deferred", "{image}", "Pushed images whose facts were left to the first read: the queue of work at push was full.");
    }

    /// <summary>Whether this replica does the work of an event: it served the change, or no replica did.</summary>
    public static bool Ours(RegistryEvent e) => e.Source.InstanceId.Length == 0 || e.Source.InstanceId == OciEndpointExtensions.InstanceId;

    public async Task OnEventAsync(RegistryEvent e, CancellationToken ct)
    {
        if (!e.FromOutbox || e.Target.Digest is not { } digest || e.Target.MediaType is null or BlobMediaType || !Ours(e))
        {
            return;
        }

        var pushed = e.Action == RegistryEvent.Push;
        if (!pushed && !(e.Action == RegistryEvent.Delete && e.Target.Tag is null))
        {
            return;
        }

        var work = new Work(e.Repository, digest, pushed);
        if (_queue.Writer.TryWrite(work))
        {
            return;
        }

        // Full: the facts wait for a read; the holding is recorded now, as it must not be lost.
        if (pushed)
        {
            _deferred.Add(1);
        }

        await _grains.GetGrain<IImageGrain>(digest).Recheck(e.Repository, pushed);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _workers = Enumerable.Range(0, _options.FactsWorkers).Select(_ => Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None)).ToArray();
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // What is queued is done first (within the host's stop timeout): a holding dropped here would be lost.
        _queue.Writer.TryComplete();
        await Task.WhenAll(_workers).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _stopping.CancelAsync();
    }

    public void Dispose() => _stopping.Dispose();

    private async Task RunAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var work in _queue.Reader.ReadAllAsync(ct))
            {
                try
                {
                    await DoAsync(work, ct);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    Failed(_logger, e, work.Repository, work.Digest);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task DoAsync(Work work, CancellationToken ct)
    {
        var image = _grains.GetGrain<IImageGrain>(work.Digest);
        if (work.Pushed && _options.FactsAtPush && await _grains.GetGrain<IRepositoryGrain>(work.Repository).GetManifest(work.Digest) is { } manifest)
        {
            // Reads the kept facts first: an image pushed again, or to another repository, is not read again.
            await _facts.GetAsync(manifest, ct);
        }

        await image.Recheck(work.Repository, work.Pushed);
    }

    [LoggerMessage(14, LogLevel.Warning, "Image API: the facts or holding of {Digest} pushed to or deleted from {Repository} could not be recorded; the first read computes the facts")]
    private static partial void Failed(ILogger logger, Exception exception, string repository, string digest);
}
