using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;

namespace Registry.Silo;

/// <summary>
/// The Azure Storage clients of cluster mode, from a connection string or from service URIs with
/// <see cref="DefaultAzureCredential"/> (workload identity in a cluster).
/// </summary>
public sealed class AzureClients
{
    private AzureClients(BlobServiceClient blobs, TableServiceClient tables, QueueServiceClient queues)
    {
        Blobs = blobs;
        Tables = tables;
        Queues = queues;
    }

    public BlobServiceClient Blobs { get; }

    public TableServiceClient Tables { get; }

    public QueueServiceClient Queues { get; }

    /// <summary>Throws <see cref="ArgumentException"/> with a message that names the setting to fix.</summary>
    public static AzureClients Create(string? connectionString, Uri? blobServiceUri, Uri? tableServiceUri, Uri? queueServiceUri)
    {
        if (!string.IsNullOrWhiteSpace(connectionString))
        {
            try
            {
                return new AzureClients(new BlobServiceClient(connectionString), new TableServiceClient(connectionString), new QueueServiceClient(connectionString));
            }
            catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
            {
                throw new ArgumentException($"Registry:Azure:ConnectionString is not a valid Azure Storage connection string ({e.Message}). Copy it from the storage account's access keys, or use Registry:Azure:BlobServiceUri with a managed identity.", e);
            }
        }

        if (blobServiceUri is null)
        {
            throw new ArgumentException("Cluster mode needs Azure Storage: set Registry:Azure:ConnectionString, or Registry:Azure:BlobServiceUri (https://<account>.blob.core.windows.net) to use DefaultAzureCredential.");
        }

        TokenCredential credential = new DefaultAzureCredential();
        return new AzureClients(
            new BlobServiceClient(blobServiceUri, credential),
            new TableServiceClient(tableServiceUri ?? Sibling(blobServiceUri, "table"), credential),
            new QueueServiceClient(queueServiceUri ?? Sibling(blobServiceUri, "queue"), credential));
    }

    /// <summary>https://acct.blob.core.windows.net → https://acct.table.core.windows.net.</summary>
    private static Uri Sibling(Uri blobServiceUri, string service)
    {
        var host = blobServiceUri.Host;
        const string marker = ".blob.";
        var at = host.IndexOf(marker, StringComparison.OrdinalIgnoreCase);
        if (at < 0)
        {
            throw new ArgumentException($"Registry:Azure:BlobServiceUri '{blobServiceUri}' does not look like https://<account>.blob.<suffix>: set Registry:Azure:{char.ToUpperInvariant(service[0])}{service[1..]}ServiceUri explicitly.");
        }

        return new UriBuilder(blobServiceUri) { Host = host[..at] + "." + service + "." + host[(at + marker.Length)..] }.Uri;
    }
}
