using System.Diagnostics;
using System.Net;
using Azure.Data.Tables;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Registry.Tests;

/// <summary>
/// One Azurite and the cluster-mode replicas (each its own OS process) that share it under one
/// cluster id. The id is also the storage container, so clusters never see each other's state.
/// </summary>
public sealed class RegistryCluster : IAsyncDisposable
{
    private readonly List<RegistryProcess> _all = [];
    private readonly (string Key, string Value)[] _settings;
    private readonly bool _gateways;
    private bool _disposed;

    private RegistryCluster(Azurite azurite, string clusterId, (string Key, string Value)[] settings, bool gateways)
    {
        Azurite = azurite;
        ClusterId = clusterId;
        _settings = settings;
        _gateways = gateways;
    }

    public Azurite Azurite { get; }

    public string ClusterId { get; }

    /// <summary>The replicas of the latest <see cref="StartReplicasAsync"/>.</summary>
    public IReadOnlyList<RegistryProcess> Replicas { get; private set; } = [];

    /// <summary>A cluster id that is also a valid container/queue name prefix.</summary>
    public static string NewClusterId(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 40)];

    /// <summary>Starts Azurite and <paramref name="replicas"/> replicas; extra settings go to every replica.</summary>
    public static Task<RegistryCluster> StartAsync(string prefix, int replicas, params (string Key, string Value)[] settings)
        => StartAsync(prefix, replicas, gateways: false, settings);

    /// <summary>
    /// Like <see cref="StartAsync(string, int, (string Key, string Value)[])"/>; with
    /// <paramref name="gateways"/> every replica also opens an Orleans gateway on a port of its own,
    /// so the test can read grains through <see cref="ConnectClientAsync"/>.
    /// </summary>
    public static async Task<RegistryCluster> StartAsync(string prefix, int replicas, bool gateways, params (string Key, string Value)[] settings)
    {
        var azurite = await Azurite.StartAsync();
        var cluster = new RegistryCluster(azurite, NewClusterId(prefix), settings, gateways);
        try
        {
            await cluster.StartReplicasAsync(replicas);
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    /// <summary>Starts <paramref name="count"/> new replicas at once and waits until each serves <c>/v2/</c>.</summary>
    public async Task<IReadOnlyList<RegistryProcess>> StartReplicasAsync(int count)
    {
        var starting = Enumerable.Range(0, count)
            .Select(_ => RegistryProcess.StartAsync(Azurite.ConnectionString, ClusterId, settings: Settings()))
            .ToArray();
        try
        {
            await Task.WhenAll(starting);
        }
        catch
        {
            foreach (var started in starting.Where(t => t.IsCompletedSuccessfully))
            {
                await started.Result.DisposeAsync();
            }

            throw;
        }

        var replicas = starting.Select(t => t.Result).ToArray();
        _all.AddRange(replicas);
        Replicas = replicas;
        return replicas;
    }

    /// <summary>Starts one replica on the given silo port (e.g. a killed replica's, as its restart in place).</summary>
    public async Task<RegistryProcess> StartReplicaAsync(int siloPort)
    {
        var replica = await RegistryProcess.StartAsync(Azurite.ConnectionString, ClusterId, siloPort: siloPort, settings: Settings());
        _all.Add(replica);
        Replicas = [replica];
        return replica;
    }

    /// <summary>
    /// An Orleans client of the cluster (found through the membership table, connected to the
    /// replicas' gateways: start the cluster with gateways); dispose the host to disconnect.
    /// </summary>
    public async Task<(IHost Host, IClusterClient Client)> ConnectClientAsync()
    {
        Assert.True(_gateways, "the replicas were started without gateways");
        var host = new HostBuilder()
            .UseOrleansClient(client => client
                .UseAzureStorageClustering(o => o.TableServiceClient = new TableServiceClient(Azurite.ConnectionString))
                .Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = ClusterId;
                    o.ServiceId = ClusterId;
                }))
            .Build();
        try
        {
            await host.StartAsync().WaitAsync(Bounded.Timeout);
        }
        catch
        {
            host.Dispose();
            throw;
        }

        return (host, host.Services.GetRequiredService<IClusterClient>());
    }

    /// <summary>Stops every running replica gracefully, all at once.</summary>
    public Task StopAllAsync() => Task.WhenAll(_all.Select(p => p.StopAsync()));

    /// <summary>
    /// The status Orleans recorded for the silo on <paramref name="siloPort"/> in the membership
    /// table (Azure Table Storage): "Active", "Dead", …; null when it has no row.
    /// </summary>
    public async Task<string?> SiloStatusAsync(int siloPort)
    {
        var tables = new TableServiceClient(Azurite.ConnectionString);
        await foreach (var table in tables.QueryAsync())
        {
            var client = tables.GetTableClient(table.Name);
            string? status = null;
            await foreach (var row in client.QueryAsync<TableEntity>())
            {
                if (row.TryGetValue("Port", out var port) && Convert.ToString(port, System.Globalization.CultureInfo.InvariantCulture) == siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture)
                    && row.TryGetValue("Status", out var value))
                {
                    status = value?.ToString();
                }
            }

            if (status is not null)
            {
                return status;
            }
        }

        return null;
    }

    private (string Key, string Value)[] Settings()
        => _gateways ? [.. _settings, ("Registry__Cluster__GatewayPort", Azurite.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture))] : _settings;

    /// <summary>What every replica printed, for failure messages.</summary>
    public string Output() => string.Join("\n", _all.Select((p, i) => $"==== replica {i} (pid {p.Pid}, http {p.HttpPort}, silo {p.SiloPort}, exited {p.HasExited})\n{p.Output}"));

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await Task.WhenAll(_all.Select(p => p.DisposeAsync().AsTask()));
        await Azurite.DisposeAsync();
    }
}

/// <summary>
/// Three replicas A, B and C sharing one Azurite, shared by the tests of a class that leave it
/// running (xunit class fixture).
/// </summary>
public sealed class ThreeReplicaCluster : IAsyncLifetime
{
    private RegistryCluster? _cluster;

    public RegistryCluster Cluster => _cluster ?? throw new InvalidOperationException("the cluster is not started");

    public RegistryProcess A => Cluster.Replicas[0];

    public RegistryProcess B => Cluster.Replicas[1];

    public RegistryProcess C => Cluster.Replicas[2];

    public RegistryProcess[] All => [A, B, C];

    public TimeSpan StartTime { get; private set; }

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        _cluster = await RegistryCluster.StartAsync("shared", 3);
        StartTime = clock.Elapsed;
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

/// <summary>
/// A client over several replicas: each request goes to the next replica in turn and, when it
/// fails (connection refused or reset, timeout, 5xx), is sent again to the next live one, within
/// a bounded number of attempts. Counts what it retried.
/// </summary>
public sealed class RoundRobinClient(IReadOnlyList<RegistryProcess> replicas, TimeSpan attemptTimeout, int maxAttempts)
{
    private readonly object _lock = new();
    private int _next;

    public int Retries { get; private set; }

    public List<string> Failures { get; } = [];

    /// <summary>Sends what <paramref name="request"/> builds (a fresh message per attempt) until an answer that is not 5xx.</summary>
    public async Task<(HttpResponseMessage Response, RegistryProcess Replica)> SendAsync(Func<HttpRequestMessage> request)
    {
        for (var attempt = 1; ; attempt++)
        {
            var replica = Next();
            using var message = request();
            using var timeout = new CancellationTokenSource(attemptTimeout);
            string failure;
            try
            {
                var response = await replica.Client.SendAsync(message, timeout.Token);
                if ((int)response.StatusCode < 500)
                {
                    return (response, replica);
                }

                failure = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(CancellationToken.None)}";
                response.Dispose();
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                failure = e.GetType().Name + ": " + e.Message;
            }

            lock (_lock)
            {
                Retries++;
                Failures.Add($"{message.Method} {message.RequestUri} on :{replica.HttpPort} attempt {attempt}: {failure}");
            }

            if (attempt >= maxAttempts)
            {
                throw new Xunit.Sdk.XunitException($"{message.Method} {message.RequestUri} failed {attempt} times; last: {failure}");
            }

            // Back off before the next attempt (bounded by maxAttempts): the survivors need a moment
            // to declare the dead replica dead; this is a retry, not a wait for a known event.
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 100 * attempt)));
        }
    }

    private RegistryProcess Next()
    {
        lock (_lock)
        {
            for (var i = 0; i < replicas.Count; i++)
            {
                var replica = replicas[_next++ % replicas.Count];
                if (!replica.HasExited)
                {
                    return replica;
                }
            }
        }

        throw new InvalidOperationException("no replica is running");
    }
}

public static class ClusterHttp
{
    public static HttpRequestMessage BlobPost(string name, byte[] content)
        => new(HttpMethod.Post, $"/v2/{name}/blobs/uploads/?digest={Oci.Digest(content)}") { Content = Oci.Octets(content) };

    public static HttpRequestMessage ManifestPut(string name, string reference, byte[] manifest)
    {
        var body = new ByteArrayContent(manifest);
        body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(Oci.ManifestType);
        return new HttpRequestMessage(HttpMethod.Put, $"/v2/{name}/manifests/{reference}") { Content = body };
    }

    /// <summary>The tag's digest as <paramref name="client"/> resolves it (HEAD), asserting 200.</summary>
    public static async Task<string> TagDigestAsync(this HttpClient client, string name, string tag)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, $"/v2/{name}/manifests/{tag}");
        request.Headers.Accept.ParseAdd(Oci.ManifestType);
        using var response = await client.SendAsync(request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"HEAD {name}:{tag} on {client.BaseAddress} answered {(int)response.StatusCode}");
        return response.Header("Docker-Content-Digest");
    }
}
