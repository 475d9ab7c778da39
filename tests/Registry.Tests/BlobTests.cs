using System.Net;
using System.Net.Http.Headers;

namespace Registry.Tests;

[Trait("Category", TestCategories.Fast)]
public sealed class BlobTests
{
    [Fact]
    public async Task MonolithicPostStoresTheBlobAndGetReturnsIt()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var content = Oci.RandomBytes(100_000);
        var digest = await host.Client.PushBlobAsync(name, content);

        using var get = await host.Client.GetAsync($"/v2/{name}/blobs/{digest}");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(content, await get.Content.ReadAsByteArrayAsync());
        Assert.Equal(digest, get.Header("Docker-Content-Digest"));

        using var head = await host.Client.SendAsync(HttpMethod.Head, $"/v2/{name}/blobs/{digest}");
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(content.Length, head.Content.Headers.ContentLength);
        Assert.Equal(digest, head.Header("Docker-Content-Digest"));
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task PostThenPutWithTheWholeBody()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var content = Oci.RandomBytes(5000);
        var digest = Oci.Digest(content);

        using var post = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        Assert.Equal(HttpStatusCode.Accepted, post.StatusCode);
        Assert.Equal("0-0", post.Header("Range"));
        var location = post.Headers.Location!.ToString();
        Assert.StartsWith($"/v2/{name}/blobs/uploads/", location);

        using var put = await host.Client.PutAsync($"{location}?digest={digest}", Oci.Octets(content));
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal($"/v2/{name}/blobs/{digest}", put.Headers.Location!.ToString());
        Assert.Equal(content, await host.Client.GetByteArrayAsync($"/v2/{name}/blobs/{digest}"));

        // The session is over.
        using var status = await host.Client.GetAsync(location);
        await status.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
    }

    [Fact]
    public async Task ChunkedUploadWithContentRangeAndStatus()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var content = Oci.RandomBytes(3 * 65536 + 17);
        var digest = Oci.Digest(content);
        using var post = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        var location = post.Headers.Location!.ToString();

        var chunk = 65536;
        for (var offset = 0; offset < content.Length; offset += chunk)
        {
            var count = Math.Min(chunk, content.Length - offset);
            using var patch = await host.Client.SendAsync(HttpMethod.Patch, location, Oci.Octets(content, offset, count), ("Content-Range", $"{offset}-{offset + count - 1}"));
            Assert.Equal(HttpStatusCode.Accepted, patch.StatusCode);
            Assert.Equal($"0-{offset + count - 1}", patch.Header("Range"));
            location = patch.Headers.Location!.ToString();

            using var status = await host.Client.GetAsync(location);
            Assert.Equal(HttpStatusCode.NoContent, status.StatusCode);
            Assert.Equal($"0-{offset + count - 1}", status.Header("Range"));
        }

        using var put = await host.Client.PutAsync($"{location}?digest={digest}", null);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(content, await host.Client.GetByteArrayAsync($"/v2/{name}/blobs/{digest}"));
    }

    [Fact]
    public async Task StreamedPatchWithoutContentRangeAppends()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var content = Oci.RandomBytes(70_000);
        using var post = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        var location = post.Headers.Location!.ToString();

        using var first = await host.Client.PatchAsync(location, new StreamContent(new MemoryStream(content, 0, 30_000)));
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        using var second = await host.Client.PatchAsync(location, new StreamContent(new MemoryStream(content, 30_000, 40_000)));
        Assert.Equal("0-69999", second.Header("Range"));

        using var put = await host.Client.PutAsync($"{location}?digest={Oci.Digest(content)}", null);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
    }

    [Fact]
    public async Task FinalPutMayCarryTheLastChunk()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var content = Oci.RandomBytes(20_000);
        using var post = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        var location = post.Headers.Location!.ToString();
        using var patch = await host.Client.SendAsync(HttpMethod.Patch, location, Oci.Octets(content, 0, 10_000), ("Content-Range", "0-9999"));
        using var put = await host.Client.PutAsync($"{location}?digest={Oci.Digest(content)}", Oci.Octets(content, 10_000, 10_000));
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal(content, await host.Client.GetByteArrayAsync($"/v2/{name}/blobs/{Oci.Digest(content)}"));
    }

    [Fact]
    public async Task OutOfOrderAndRepeatedChunksAre416AndChangeNothing()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var content = Oci.RandomBytes(30_000);
        using var post = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        var location = post.Headers.Location!.ToString();
        using var first = await host.Client.SendAsync(HttpMethod.Patch, location, Oci.Octets(content, 0, 10_000), ("Content-Range", "0-9999"));
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);

        using var repeated = await host.Client.SendAsync(HttpMethod.Patch, location, Oci.Octets(content, 0, 10_000), ("Content-Range", "0-9999"));
        await repeated.AssertErrorAsync(HttpStatusCode.RequestedRangeNotSatisfiable, "RANGE_INVALID");
        Assert.Equal("0-9999", repeated.Header("Range"));

        using var gap = await host.Client.SendAsync(HttpMethod.Patch, location, Oci.Octets(content, 20_000, 10_000), ("Content-Range", "20000-29999"));
        await gap.AssertErrorAsync(HttpStatusCode.RequestedRangeNotSatisfiable, "RANGE_INVALID");

        using var overlap = await host.Client.SendAsync(HttpMethod.Patch, location, Oci.Octets(content, 5_000, 10_000), ("Content-Range", "5000-14999"));
        await overlap.AssertErrorAsync(HttpStatusCode.RequestedRangeNotSatisfiable, "RANGE_INVALID");

        using var status = await host.Client.GetAsync(location);
        Assert.Equal("0-9999", status.Header("Range"));

        // The upload goes on and its content is exactly what was accepted.
        using var next = await host.Client.SendAsync(HttpMethod.Patch, location, Oci.Octets(content, 10_000, 20_000), ("Content-Range", "10000-29999"));
        Assert.Equal(HttpStatusCode.Accepted, next.StatusCode);
        using var put = await host.Client.PutAsync($"{location}?digest={Oci.Digest(content)}", null);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
    }

    [Fact]
    public async Task ContentRangeThatDisagreesWithTheBodyIsRefused()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        using var post = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        var location = post.Headers.Location!.ToString();
        using var wrong = await host.Client.SendAsync(HttpMethod.Patch, location, Oci.Octets(Oci.RandomBytes(100)), ("Content-Range", "0-49"));
        await wrong.AssertErrorAsync(HttpStatusCode.RequestedRangeNotSatisfiable, "RANGE_INVALID");
        using var garbage = await host.Client.SendAsync(HttpMethod.Patch, location, Oci.Octets(Oci.RandomBytes(100)), ("Content-Range", "abc"));
        await garbage.AssertErrorAsync(HttpStatusCode.RequestedRangeNotSatisfiable, "RANGE_INVALID");

        // Both say where the session stands, as for a chunk out of order.
        Assert.Equal("0-0", wrong.Header("Range"));
        Assert.Equal(location, garbage.Header("Location"));
        using var status = await host.Client.GetAsync(location);
        Assert.Equal("0-0", status.Header("Range"));

        // An unknown session is unknown, whatever its headers.
        using var unknown = await host.Client.SendAsync(HttpMethod.Patch, $"/v2/{name}/blobs/uploads/{Guid.NewGuid():N}", Oci.Octets(Oci.RandomBytes(100)), ("Content-Range", "0-49"));
        await unknown.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
    }

    [Fact]
    public async Task DigestMismatchOnFinalizeLeavesNothingVisible()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var content = Oci.RandomBytes(4096);
        var claimed = Oci.Digest(Oci.RandomBytes(4096));
        using var post = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        var location = post.Headers.Location!.ToString();
        using var put = await host.Client.PutAsync($"{location}?digest={claimed}", Oci.Octets(content));
        await put.AssertErrorAsync(HttpStatusCode.BadRequest, "DIGEST_INVALID");

        using var claimedGet = await host.Client.GetAsync($"/v2/{name}/blobs/{claimed}");
        await claimedGet.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UNKNOWN");
        using var realGet = await host.Client.GetAsync($"/v2/{name}/blobs/{Oci.Digest(content)}");
        await realGet.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UNKNOWN");
        Assert.False(File.Exists(Path.Combine(host.DataDirectory, "blobs", "sha256", claimed[7..9], claimed[7..])));

        using var monolithic = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/?digest={claimed}", Oci.Octets(content));
        await monolithic.AssertErrorAsync(HttpStatusCode.BadRequest, "DIGEST_INVALID");
        using var afterMonolithic = await host.Client.GetAsync($"/v2/{name}/blobs/{claimed}");
        await afterMonolithic.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UNKNOWN");
    }

    [Fact]
    public async Task Sha512DigestsWork()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var content = Oci.RandomBytes(12_345);
        var digest = Oci.Sha512(content);
        using var post = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        var location = post.Headers.Location!.ToString();
        using var patch = await host.Client.SendAsync(HttpMethod.Patch, location, Oci.Octets(content), ("Content-Range", "0-12344"));
        using var put = await host.Client.PutAsync($"{location}?digest={digest}", null);
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        using var get = await host.Client.GetAsync($"/v2/{name}/blobs/{digest}");
        Assert.Equal(content, await get.Content.ReadAsByteArrayAsync());

        var other = Oci.RandomBytes(99);
        using var monolithic = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/?digest={Oci.Sha512(other)}", Oci.Octets(other));
        Assert.Equal(HttpStatusCode.Created, monolithic.StatusCode);
    }

    [Fact]
    public async Task UnknownAndMalformedUploadIds()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        foreach (var id in new[] { Guid.NewGuid().ToString("N"), "not-an-id", "%2e%2e%2fetc", Guid.NewGuid().ToString("N").ToUpperInvariant() })
        {
            using var get = await host.Client.GetAsync($"/v2/{name}/blobs/uploads/{id}");
            await get.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
            using var patch = await host.Client.PatchAsync($"/v2/{name}/blobs/uploads/{id}", Oci.Octets([1, 2, 3]));
            await patch.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
            using var put = await host.Client.PutAsync($"/v2/{name}/blobs/uploads/{id}?digest={Oci.Digest([1, 2, 3])}", Oci.Octets([1, 2, 3]));
            await put.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
            using var delete = await host.Client.DeleteAsync($"/v2/{name}/blobs/uploads/{id}");
            await delete.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        }
    }

    [Fact]
    public async Task AnUploadBelongsToItsRepository()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        using var post = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        var id = post.Headers.Location!.ToString().Split('/')[^1];
        using var elsewhere = await host.Client.GetAsync($"/v2/{SharedRegistry.UniqueName()}/blobs/uploads/{id}");
        await elsewhere.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
    }

    [Fact]
    public async Task CancelledUploadIsGone()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        using var post = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/", null);
        var location = post.Headers.Location!.ToString();
        using var patch = await host.Client.SendAsync(HttpMethod.Patch, location, Oci.Octets(Oci.RandomBytes(10)), ("Content-Range", "0-9"));
        using var delete = await host.Client.DeleteAsync(location);
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        using var status = await host.Client.GetAsync(location);
        await status.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UPLOAD_UNKNOWN");
        Assert.False(Directory.Exists(Path.Combine(host.DataDirectory, "uploads", location.Split('/')[^1])));
    }

    [Fact]
    public async Task RangeRequestsGetPartialContent()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var content = Oci.RandomBytes(1000);
        var digest = await host.Client.PushBlobAsync(name, content);

        using var middle = await host.Client.SendAsync(HttpMethod.Get, $"/v2/{name}/blobs/{digest}", null, ("Range", "bytes=100-199"));
        Assert.Equal(HttpStatusCode.PartialContent, middle.StatusCode);
        Assert.Equal(content[100..200], await middle.Content.ReadAsByteArrayAsync());
        Assert.Equal("bytes 100-199/1000", middle.Content.Headers.ContentRange!.ToString());

        using var open = await host.Client.SendAsync(HttpMethod.Get, $"/v2/{name}/blobs/{digest}", null, ("Range", "bytes=900-"));
        Assert.Equal(content[900..], await open.Content.ReadAsByteArrayAsync());

        using var suffix = await host.Client.SendAsync(HttpMethod.Get, $"/v2/{name}/blobs/{digest}", null, ("Range", "bytes=-10"));
        Assert.Equal(content[990..], await suffix.Content.ReadAsByteArrayAsync());

        using var beyond = await host.Client.SendAsync(HttpMethod.Get, $"/v2/{name}/blobs/{digest}", null, ("Range", "bytes=5000-6000"));
        await beyond.AssertErrorAsync(HttpStatusCode.RequestedRangeNotSatisfiable, "RANGE_INVALID");
        Assert.Equal("bytes */1000", beyond.Content.Headers.ContentRange?.ToString() ?? beyond.Header("Content-Range"));

        // A HEAD ignores Range, satisfiable or not: it describes the whole blob.
        foreach (var range in new[] { "bytes=100-199", "bytes=5000-6000" })
        {
            using var head = await host.Client.SendAsync(HttpMethod.Head, $"/v2/{name}/blobs/{digest}", null, ("Range", range));
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
            Assert.Equal(1000, head.Content.Headers.ContentLength);
            Assert.Null(head.Content.Headers.ContentRange);
        }
    }

    [Fact]
    public async Task ConcurrentGetsOfABlobLargerThanASendWindowAllGetItsBytes()
    {
        // 12 GETs at once of a blob over 4 MiB: more responses than may send 4 MiB windows (8),
        // so both window sizes run, each over several windows and a partial last one; a range
        // GET that starts and ends inside windows runs alongside.
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var content = Oci.RandomBytes((9 << 20) + 4321);
        var digest = await host.Client.PushBlobAsync(name, content);

        async Task<byte[]> GetAsync()
        {
            using var get = await host.Client.GetAsync($"/v2/{name}/blobs/{digest}", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            return await get.Content.ReadAsByteArrayAsync();
        }

        async Task<byte[]> GetRangeAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/{name}/blobs/{digest}");
            request.Headers.Range = new RangeHeaderValue(1_000_001, 8_500_000);
            using var get = await host.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.PartialContent, get.StatusCode);
            return await get.Content.ReadAsByteArrayAsync();
        }

        var range = GetRangeAsync();
        var bodies = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => GetAsync())).WithinAsync();

        Assert.All(bodies, body => Assert.Equal(content, body));
        Assert.Equal(content.AsSpan(1_000_001, 7_500_000).ToArray(), await range.WithinAsync());
    }

    [Fact]
    public async Task ABlobIsServedOnlyByRepositoriesItWasPushedOrMountedTo()
    {
        var host = await SharedRegistry.GetAsync();
        var a = SharedRegistry.UniqueName();
        var b = SharedRegistry.UniqueName();
        var c = SharedRegistry.UniqueName();
        var digest = await host.Client.PushBlobAsync(a, Oci.RandomBytes(2048));

        using var notInB = await host.Client.GetAsync($"/v2/{b}/blobs/{digest}");
        await notInB.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UNKNOWN");

        using var mount = await host.Client.PostAsync($"/v2/{b}/blobs/uploads/?mount={digest}&from={a}", null);
        Assert.Equal(HttpStatusCode.Created, mount.StatusCode);
        Assert.Equal($"/v2/{b}/blobs/{digest}", mount.Headers.Location!.ToString());
        using var inB = await host.Client.GetAsync($"/v2/{b}/blobs/{digest}");
        Assert.Equal(HttpStatusCode.OK, inB.StatusCode);

        using var withoutFrom = await host.Client.PostAsync($"/v2/{c}/blobs/uploads/?mount={digest}", null);
        Assert.Equal(HttpStatusCode.Created, withoutFrom.StatusCode);
        using var inC = await host.Client.GetAsync($"/v2/{c}/blobs/{digest}");
        Assert.Equal(HttpStatusCode.OK, inC.StatusCode);
    }

    [Fact]
    public async Task MountOfAnUnknownBlobFallsBackToAnUploadSession()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var unknown = Oci.Digest(Oci.RandomBytes(64));
        using var fromElsewhere = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/?mount={unknown}&from={SharedRegistry.UniqueName()}", null);
        Assert.Equal(HttpStatusCode.Accepted, fromElsewhere.StatusCode);
        Assert.Contains("/blobs/uploads/", fromElsewhere.Headers.Location!.ToString());
        using var noFrom = await host.Client.PostAsync($"/v2/{name}/blobs/uploads/?mount={unknown}", null);
        Assert.Equal(HttpStatusCode.Accepted, noFrom.StatusCode);
        using var get = await host.Client.GetAsync($"/v2/{name}/blobs/{unknown}");
        await get.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UNKNOWN");
    }

    [Fact]
    public async Task DeletingABlobUnlinksItFromTheRepository()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var other = SharedRegistry.UniqueName();
        var content = Oci.RandomBytes(512);
        var digest = await host.Client.PushBlobAsync(name, content);
        await host.Client.PushBlobAsync(other, content);

        using var delete = await host.Client.DeleteAsync($"/v2/{name}/blobs/{digest}");
        Assert.Equal(HttpStatusCode.Accepted, delete.StatusCode);
        using var gone = await host.Client.GetAsync($"/v2/{name}/blobs/{digest}");
        await gone.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UNKNOWN");
        using var again = await host.Client.DeleteAsync($"/v2/{name}/blobs/{digest}");
        await again.AssertErrorAsync(HttpStatusCode.NotFound, "BLOB_UNKNOWN");

        // Another repository that holds the same content still serves it.
        Assert.Equal(content, await host.Client.GetByteArrayAsync($"/v2/{other}/blobs/{digest}"));
    }

    [Fact]
    public async Task LargeBlobBeyondKestrelsDefaultBodyLimit()
    {
        var host = await SharedRegistry.GetAsync();
        var name = SharedRegistry.UniqueName();
        var content = Oci.RandomBytes(40 * 1024 * 1024);
        var digest = await host.Client.PushBlobAsync(name, content);
        using var head = await host.Client.SendAsync(HttpMethod.Head, $"/v2/{name}/blobs/{digest}");
        Assert.Equal(content.Length, head.Content.Headers.ContentLength);
        var back = await host.Client.GetByteArrayAsync($"/v2/{name}/blobs/{digest}");
        Assert.Equal(digest, Oci.Digest(back));
    }
}
