using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Registry.Grains;
using Registry.Silo;

namespace Registry.Tests;

/// <summary>
/// The sender as <see cref="WebhookServiceExtensions.AddRegistryWebhooks"/> registers it, against
/// a listener that accepts connections and never answers.
/// </summary>
[Trait("Category", "Fast")]
public sealed class WebhookSenderTests : IAsyncDisposable
{
    private readonly TcpListener _silent = new(IPAddress.Loopback, 0);
    private readonly LogLevels _logs = new();
    private readonly ServiceProvider _services;

    public WebhookSenderTests()
    {
        _silent.Start();
        _services = new ServiceCollection()
            .AddLogging(logging => logging.SetMinimumLevel(LogLevel.Trace).AddProvider(_logs))
            .AddRegistryWebhooks(new ConfigurationBuilder().Build())
            .BuildServiceProvider();
    }

    private WebhookEndpointOptions Endpoint(TimeSpan timeout) => new()
    {
        Name = "silent",
        Url = $"http://127.0.0.1:{((IPEndPoint)_silent.LocalEndpoint).Port}/hook",
        Timeout = timeout,
    };

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        _silent.Dispose();
    }

    [Fact]
    public async Task AnAttemptEndsAfterTheEndpointsTimeoutWithoutRetrying()
    {
        var sender = _services.GetRequiredService<WebhookSender>();
        var started = Stopwatch.StartNew();
        var post = sender.PostAsync(Endpoint(TimeSpan.FromMilliseconds(300)), [1, 2, 3]);
        using var connection = await _silent.AcceptTcpClientAsync().WaitAsync(Bounded.Timeout);

        var attempt = await post.WaitAsync(Bounded.Timeout);
        Assert.Equal(new WebhookAttempt(false, "no answer within 00:00:00.3000000"), attempt);
        Assert.InRange(started.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(10));
        Assert.False(_silent.Pending(), "the handler made no second attempt");
        Assert.DoesNotContain(_logs.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task CancelAllEndsTheAttemptsInFlight()
    {
        var sender = _services.GetRequiredService<WebhookSender>();
        var post = sender.PostAsync(Endpoint(TimeSpan.FromMinutes(5)), [1, 2, 3]);
        using var connection = await _silent.AcceptTcpClientAsync().WaitAsync(Bounded.Timeout);

        sender.CancelAll();
        Assert.Equal(new WebhookAttempt(false, "the silo is stopping"), await post.WaitAsync(Bounded.Timeout));
        Assert.Equal(new WebhookAttempt(false, "the silo is stopping"), await sender.PostAsync(Endpoint(TimeSpan.FromMinutes(5)), [1]).WaitAsync(Bounded.Timeout));
    }

    /// <summary>Records the category and level of every log entry.</summary>
    private sealed class LogLevels : ILoggerProvider
    {
        public ConcurrentQueue<(string Category, LogLevel Level)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(LogLevels owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
                => owner.Entries.Enqueue((category, logLevel));
        }
    }
}
