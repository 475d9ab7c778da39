using System.Reflection;

namespace Registry.Tests;

/// <summary>Every test class can be selected by category, so running the suite in parts misses none.</summary>
[Trait("Category", TestCategories.Fast)]
public sealed class TestCategoryTests
{
    private static readonly string[] Known =
    [
        TestCategories.Fast, TestCategories.Slow, TestCategories.Process,
        TestCategories.Azurite, TestCategories.Skopeo, TestCategories.Kubectl,
    ];

    [Fact]
    public void EveryTestClassCarriesOnlyKnownCategories()
    {
        var classes = TestClasses();
        Assert.Contains(typeof(TestCategoryTests), classes);

        var wrong = classes
            .Where(t => Categories(t) is var categories && (categories.Length == 0 || categories.Any(c => !Known.Contains(c))))
            .Select(t => $"{t.FullName} [{string.Join(", ", Categories(t))}]")
            .ToArray();
        Assert.True(wrong.Length == 0, $"test classes without a Category trait of {string.Join(", ", Known)}: {string.Join("; ", wrong)}");
    }

    [Fact]
    public void AFastClassCarriesNoOtherCategory()
    {
        // "Category=Fast" selects a class that also carries, say, Skopeo: it would then need skopeo.
        var mixed = TestClasses()
            .Where(t => Categories(t) is var categories && categories.Contains(TestCategories.Fast) && categories.Length > 1)
            .Select(t => t.FullName)
            .ToArray();
        Assert.Empty(mixed);
    }

    private static Type[] TestClasses()
        => typeof(TestCategoryTests).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && t.GetMethods().Any(m => m.IsDefined(typeof(FactAttribute), inherit: true)))
            .ToArray();

    private static string?[] Categories(Type type)
        => type.GetCustomAttributesData()
            .Where(a => a.AttributeType == typeof(TraitAttribute) && (string?)a.ConstructorArguments[0].Value == "Category")
            .Select(a => (string?)a.ConstructorArguments[1].Value)
            .ToArray();
}
