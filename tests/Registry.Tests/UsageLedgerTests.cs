using Registry.Grains;

namespace Registry.Tests;

/// <summary>The namespace usage ledger's rules: a digest counts once, a repository while it holds anything, every change idempotent.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class UsageLedgerTests
{
    [Fact]
    public void ADigestCountsOnceAndARepositoryWhileItHoldsAnything()
    {
        var ledger = new UsageLedger();
        ledger.Add("ns/a", "sha256:1", 100);
        ledger.Add("ns/a", "sha256:1", 100);
        ledger.Add("ns/b", "sha256:1", 100);
        ledger.Add("ns/b", "sha256:2", 50);
        Assert.Equal(new NamespaceUsage(150, 2, 2), ledger.Usage);
        Assert.Equal(0, ledger.Growth("sha256:1", 100));
        Assert.Equal(7, ledger.Growth("sha256:3", 7));

        ledger.Remove("ns/a", "sha256:1");
        ledger.Remove("ns/a", "sha256:1");
        Assert.Equal(new NamespaceUsage(150, 1, 2), ledger.Usage);
        Assert.False(ledger.HoldsAnything("ns/a"));

        ledger.Remove("ns/b", "sha256:1");
        ledger.Remove("ns/b", "sha256:2");
        ledger.Remove("ns/c", "sha256:9");
        Assert.Equal(new NamespaceUsage(0, 0, 0), ledger.Usage);
    }

    [Fact]
    public void ARepositoryReleasedWholeKeepsWhatOthersHold()
    {
        var ledger = new UsageLedger();
        ledger.Add("ns/a", "sha256:1", 100);
        ledger.Add("ns/a", "sha256:2", 10);
        ledger.Add("ns/b", "sha256:1", 100);
        ledger.RemoveRepository("ns/a");
        ledger.RemoveRepository("ns/a");
        Assert.Equal(new NamespaceUsage(100, 1, 1), ledger.Usage);
        Assert.True(ledger.Holds("ns/b", "sha256:1"));
    }
}
