using System.Net;

namespace Registry.Tests;

/// <summary>
/// A stream's spec survives a restart on the same data directory: a created empty stream, its
/// labels, annotations and spec tags, and a tracking tag that still follows its source afterwards.
/// </summary>
[Trait("Category", TestCategories.Fast)]
public sealed class ImageApiSpecRestartTests : IDisposable
{
    private const string V1 = "/apis/image.openshift.io/v1";
    private readonly string _data = Directory.CreateTempSubdirectory("registry-spec-restart-").FullName;

    public void Dispose() => Skopeo.TryDelete(_data);

    [Fact]
    public async Task SpecTagsAndACreatedStreamSurviveARestart()
    {
        var ns = ImageApi.Namespace();
        string v1;
        string before;
        var host = await RegistryHost.StartAsync(_data);
        try
        {
            v1 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "src", "r1");
            using (var put = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Put, $"{V1}/namespaces/{ns}/imagestreams/app", SpecStreams.Stream("app", annotations: new() { ["note"] = "kept" }, tags: [SpecStreams.Tag("alias", "ImageStreamTag", "src"), SpecStreams.Tag("later", "DockerImage", "example.com/x:1")])))
            {
                await put.JsonAsync(HttpStatusCode.OK);
            }

            using (var created = await ImageApiWrite.SendAsync(host.Client, HttpMethod.Post, $"{V1}/namespaces/{ns}/imagestreams", SpecStreams.Stream("empty", labels: new() { ["tier"] = "db" })))
            {
                await created.JsonAsync(HttpStatusCode.Created);
            }

            using var read = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
            before = read.RootElement.GetProperty("spec").GetRawText();
        }
        finally
        {
            await host.StopAsync();
        }

        host = await RegistryHost.StartAsync(_data);
        try
        {
            using var app = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/app");
            Assert.Equal(before, app.RootElement.GetProperty("spec").GetRawText());
            Assert.Equal("kept", app.RootElement.GetProperty("metadata").GetProperty("annotations").GetProperty("note").GetString());
            Assert.Equal(v1, (await host.Client.GetManifestAsync($"{ns}/app", "alias")).Digest);

            using var empty = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams/empty");
            Assert.Equal("db", empty.RootElement.GetProperty("metadata").GetProperty("labels").GetProperty("tier").GetString());
            using var list = await ImageApi.GetJsonAsync(host.Client, $"{V1}/namespaces/{ns}/imagestreams");
            Assert.Equal(["app", "empty"], list.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("metadata").GetProperty("name").GetString()));

            // The tracking tag still follows.
            var v2 = await ImageApi.PushAsync(host.Client, $"{ns}/app", "src", "r2");
            Assert.Equal(v2, (await host.Client.GetManifestAsync($"{ns}/app", "alias")).Digest);
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
