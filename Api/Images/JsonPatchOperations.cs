using System.Globalization;
using System.Text.Json.Nodes;
using Registry.Api.Kube;

namespace Registry.Api.Images;

/// <summary>
/// RFC 6902 JSON patch: <c>add</c>, <c>remove</c>, <c>replace</c>, <c>move</c>, <c>copy</c> and
/// <c>test</c>, with RFC 6901 pointers. An operation that cannot be applied (a path that names
/// nothing, a failed test) refuses the whole patch with 422, as the Kubernetes API server does.
/// </summary>
public static class JsonPatchOperations
{
    /// <param name="maxGrowth">
    /// How much the copies of the patch may add, in bytes of JSON: only <c>copy</c> makes more than
    /// the body holds, and copies of copies double the object each time, so it is counted before it is made.
    /// </param>
    public static JsonNode? Apply(JsonNode? document, JsonArray operations, long maxGrowth)
    {
        var root = document?.DeepClone();
        var index = 0;
        long grown = 0;
        foreach (var operation in operations)
        {
            if (operation is not JsonObject op || Text(op, "op") is not { } name || Text(op, "path") is not { } path)
            {
                throw Invalid(index, "every operation is an object with \"op\" and \"path\"");
            }

            var hasValue = op.TryGetPropertyValue("value", out var value);
            switch (name)
            {
                case "add" when hasValue:
                    root = Add(root, Pointer(path, index), value?.DeepClone(), index);
                    break;
                case "remove":
                    root = Remove(root, Pointer(path, index), index, out _);
                    break;
                case "replace" when hasValue:
                    root = Remove(root, Pointer(path, index), index, out _);
                    root = Add(root, Pointer(path, index), value?.DeepClone(), index);
                    break;
                case "move" when Text(op, "from") is { } from:
                    root = Remove(root, Pointer(from, index), index, out var moved);
                    root = Add(root, Pointer(path, index), moved, index);
                    break;
                case "copy" when Text(op, "from") is { } from:
                    var source = Get(root, Pointer(from, index), index);
                    grown += Weight(source, maxGrowth - grown);
                    if (grown > maxGrowth)
                    {
                        throw new PatchException(KubeStatus.RequestEntityTooLarge($"the JSON patch cannot be applied: operation {index}: its copies add more than {maxGrowth} bytes (Registry:ImageApi:MaxRequestBytes)"));
                    }

                    root = Add(root, Pointer(path, index), source?.DeepClone(), index);
                    break;
                case "test" when hasValue:
                    if (!JsonNode.DeepEquals(Get(root, Pointer(path, index), index), value))
                    {
                        throw Invalid(index, $"test of \"{path}\" failed");
                    }

                    break;
                default:
                    throw Invalid(index, $"\"{name}\" with these members is not a JSON patch operation (add, remove, replace, move, copy, test)");
            }

            index++;
        }

        return root;
    }

    private static string[] Pointer(string pointer, int index)
    {
        if (pointer.Length == 0)
        {
            return [];
        }

        if (pointer[0] != '/')
        {
            throw Invalid(index, $"\"{pointer}\" is not a JSON pointer");
        }

        return pointer[1..].Split('/').Select(p => p.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToArray();
    }

    private static JsonNode? Get(JsonNode? root, string[] path, int index)
    {
        var node = root;
        foreach (var part in path)
        {
            node = node switch
            {
                JsonObject o when o.TryGetPropertyValue(part, out var child) => child,
                JsonArray a when ArrayIndex(part, a.Count - 1) is { } i => a[i],
                _ => throw Invalid(index, $"\"/{string.Join('/', path)}\" names nothing"),
            };
        }

        return node;
    }

    private static JsonNode? Add(JsonNode? root, string[] path, JsonNode? value, int index)
    {
        if (path.Length == 0)
        {
            return value;
        }

        var parent = Get(root, path[..^1], index);
        var last = path[^1];
        switch (parent)
        {
            case JsonObject o:
                o.Remove(last);
                o[last] = value;
                break;
            case JsonArray a when last == "-":
                a.Add(value);
                break;
            case JsonArray a when ArrayIndex(last, a.Count) is { } i:
                a.Insert(i, value);
                break;
            default:
                throw Invalid(index, $"\"/{string.Join('/', path)}\" cannot be added to");
        }

        return root;
    }

    private static JsonNode? Remove(JsonNode? root, string[] path, int index, out JsonNode? removed)
    {
        if (path.Length == 0)
        {
            removed = root;
            return null;
        }

        var parent = Get(root, path[..^1], index);
        var last = path[^1];
        switch (parent)
        {
            case JsonObject o when o.TryGetPropertyValue(last, out var child):
                o.Remove(last);
                removed = child;
                break;
            case JsonArray a when ArrayIndex(last, a.Count - 1) is { } i:
                removed = a[i];
                a.RemoveAt(i);
                break;
            default:
                throw Invalid(index, $"\"/{string.Join('/', path)}\" names nothing");
        }

        return root;
    }

    /// <summary>About the length of <paramref name="node"/> as JSON; counting stops once it passes <paramref name="limit"/>.</summary>
    private static long Weight(JsonNode? node, long limit)
    {
        long weight = 0;
        var pending = new Stack<JsonNode?>();
        pending.Push(node);
        while (pending.Count > 0 && weight <= limit)
        {
            switch (pending.Pop())
            {
                case JsonObject o:
                    weight += 2;
                    foreach (var (name, child) in o)
                    {
                        weight += name.Length + 4;
                        pending.Push(child);
                    }

                    break;
                case JsonArray a:
                    weight += 2;
                    foreach (var child in a)
                    {
                        weight += 1;
                        pending.Push(child);
                    }

                    break;
                case JsonValue v:
                    weight += v.ToJsonString().Length;
                    break;
                default:
                    weight += 4;
                    break;
            }
        }

        return weight;
    }

    /// <summary>An array index (digits, no leading zero) at most <paramref name="max"/>, or null.</summary>
    private static int? ArrayIndex(string part, int max)
        => part.Length > 0 && part.All(char.IsAsciiDigit) && (part.Length == 1 || part[0] != '0')
            && int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i <= max
                ? i
                : null;

    private static string? Text(JsonObject op, string name)
        => op.TryGetPropertyValue(name, out var value) && value is JsonValue v && v.TryGetValue<string>(out var text) ? text : null;

    private static PatchException Invalid(int index, string detail)
        => new(KubeStatus.Invalid($"the JSON patch cannot be applied: operation {index}: {detail}"));
}
