using Registry.Api.Oci;

namespace Registry.Tests;

/// <summary>The <c>Range</c> header of a blob GET: one byte range is served (206), one past the end is 416, anything else the whole blob.</summary>
[Trait("Category", "Fast")]
public sealed class ByteRangeTests
{
    [Theory]
    [InlineData("bytes=0-9", 0, 10)]
    [InlineData("bytes=0-0", 0, 1)]
    [InlineData("bytes=90-", 90, 10)]
    [InlineData("bytes=90-99", 90, 10)]
    [InlineData("bytes=90-1000", 90, 10)]
    [InlineData("bytes=99-99", 99, 1)]
    [InlineData("bytes=-10", 90, 10)]
    [InlineData("bytes=-1000", 0, 100)]
    [InlineData("BYTES=10-19", 10, 10)]
    [InlineData("Bytes=010-019", 10, 10)]
    [InlineData("bytes=0-99999999999999999", 0, 100)]
    [InlineData("bytes= 10 - 19 ", 10, 10)]
    public void OneSatisfiableRangeIsServed(string header, long start, long length)
        => Assert.Equal(new ByteRange(true, true, start, length), ByteRange.Parse(header, 100));

    [Theory]
    [InlineData("bytes=100-", 100)]
    [InlineData("bytes=100-200", 100)]
    [InlineData("bytes=-0", 100)]
    [InlineData("bytes=0-", 0)]
    [InlineData("bytes=-5", 0)]
    public void ARangeOutsideTheBlobIsUnsatisfiable(string header, long size)
    {
        var range = ByteRange.Parse(header, size);
        Assert.False(range.Satisfiable);
        Assert.False(range.Valid);
    }

    [Theory]
    [InlineData("bytes=0-1,5-6")]
    [InlineData("bytes=0-1,")]
    [InlineData("bytes=9-3")]
    [InlineData("bytes=")]
    [InlineData("bytes=-")]
    [InlineData("bytes=abc")]
    [InlineData("bytes=0-9x")]
    [InlineData("bytes=+1-2")]
    [InlineData("bytes=1.5-2")]
    [InlineData("bytes=99999999999999999999-")]
    [InlineData("items=0-9")]
    [InlineData("bytes 0-9")]
    [InlineData("bytes =0-9")]
    [InlineData("bytes= 0-9x")]
    [InlineData(" bytes=0-9")]
    [InlineData("0-9")]
    [InlineData("")]
    public void AnythingElseIsIgnoredAndTheWholeBlobSent(string header)
    {
        var range = ByteRange.Parse(header, 100);
        Assert.False(range.Valid);
        Assert.True(range.Satisfiable);
    }
}
