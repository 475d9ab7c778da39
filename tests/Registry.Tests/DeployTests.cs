using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using Xunit.Sdk;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Registry.Tests;

/// <summary>
/// The Kubernetes manifests in deploy/ as kustomize renders them (the kubectl built-in, no
/// cluster needed), and the Dockerfile as far as it can be checked without a Docker engine.
/// </summary>
[Trait("Category", TestCategories.Kubectl)]
public sealed class DeployTests
{
    private static readonly TimeSpan KubectlTimeout = TimeSpan.FromSeconds(60);

    private static readonly ConcurrentDictionary<string, Lazy<Task<Rendered>>> Renders = new();

    public static TheoryData<string, int, string, string> Overlays() => new()
    {
        // overlay, replicas, cpu request, memory request
        { "dev", 2, "100m", "320Mi" },
        { "azure", 3, "250m", "320Mi" },
    };

    /// <summary>
    /// The highest peak RSS bench/memory.sh measured (256 slow pulls and 16 pushes, either mode;
    /// docs/benchmarks-scaleout.md, Memory): every pod's memory request must cover it, and its limit
    /// leave a quarter more on top, so a replica under that load is neither evicted nor killed.
    /// </summary>
    private const int MeasuredPeakMiB = 286;

    public static TheoryData<string, string, string> MemoryResources() => new()
    {
        // overlay, memory request, memory limit
        { "dev", "320Mi", "384Mi" },
        { "azure", "320Mi", "448Mi" },
    };

    [Theory]
    [MemberData(nameof(MemoryResources))]
    public async Task MemoryRequestsAndLimitsCoverTheMeasuredPeakWithHeadroom(string overlay, string request, string limit)
    {
        var container = (await RenderAsync(overlay)).RegistryContainer;

        Assert.Equal(request, Path(container, "resources.requests.memory"));
        Assert.Equal(limit, Path(container, "resources.limits.memory"));
        Assert.InRange(MiB(request), MeasuredPeakMiB, int.MaxValue);
        Assert.InRange(MiB(limit), MeasuredPeakMiB * 5 / 4, int.MaxValue);

        static int MiB(string quantity) => quantity.EndsWith("Mi", StringComparison.Ordinal)
            ? int.Parse(quantity[..^2], System.Globalization.CultureInfo.InvariantCulture)
            : throw new Xunit.Sdk.XunitException($"memory quantity {quantity} is not in Mi");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task DeploymentHasReplicasProbesResourcesAndPorts(string overlay, int replicas, string cpu, string memory)
    {
        var rendered = await RenderAsync(overlay);
        var deployment = rendered.Deployment;
        Assert.Equal(replicas, deployment["spec"]!["replicas"]!.GetValue<long>());

        var container = rendered.RegistryContainer;
        Assert.Equal("/startupz", Path(container, "startupProbe.httpGet.path"));
        Assert.Equal("/readyz", Path(container, "readinessProbe.httpGet.path"));
        Assert.Equal("/livez", Path(container, "livenessProbe.httpGet.path"));
        foreach (var probe in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
        {
            Assert.Equal(5000, ResolvePort(container, container[probe]!["httpGet"]!["port"]!));
        }

        Assert.Equal(5000, ContainerPort(container, "http"));
        Assert.Equal(11111, ContainerPort(container, "silo"));
        Assert.DoesNotContain(Items(container["ports"]), p => Path(p, "name") == "gateway");

        Assert.Equal(cpu, Path(container, "resources.requests.cpu"));
        Assert.Equal(memory, Path(container, "resources.requests.memory"));
        Assert.NotNull(container["resources"]?["limits"]?["memory"]);

        var image = Path(container, "image");
        Assert.False(image is "registry" || image.StartsWith("registry:", StringComparison.Ordinal) || image.StartsWith("registry@", StringComparison.Ordinal),
            $"overlay {overlay} must replace the base's placeholder image `registry` (images: - name: registry), but renders `{image}`: " +
            "unqualified it would pull docker.io/library/registry, a different program.");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task PodIsNonRootWithAReadOnlyRootAndAWritableTmp(string overlay, int replicas, string cpu, string memory)
    {
        _ = (replicas, cpu, memory);
        var rendered = await RenderAsync(overlay);
        var pod = rendered.PodSpec;
        var container = rendered.RegistryContainer;

        var runAsNonRoot = container["securityContext"]?["runAsNonRoot"] ?? pod["securityContext"]?["runAsNonRoot"];
        Assert.True(runAsNonRoot?.GetValue<bool>(), $"{overlay}: runAsNonRoot must be true");
        var runAsUser = container["securityContext"]?["runAsUser"] ?? pod["securityContext"]?["runAsUser"];
        Assert.True(runAsUser is not null && runAsUser.GetValue<long>() > 0, $"{overlay}: runAsUser must be a non-zero uid");
        Assert.True(container["securityContext"]?["readOnlyRootFilesystem"]?.GetValue<bool>(), $"{overlay}: readOnlyRootFilesystem must be true");
        Assert.False(container["securityContext"]!["allowPrivilegeEscalation"]!.GetValue<bool>());
        Assert.Contains("ALL", Strings(container["securityContext"]!["capabilities"]!["drop"]));
        var seccomp = container["securityContext"]?["seccompProfile"]?["type"] ?? pod["securityContext"]?["seccompProfile"]?["type"];
        Assert.Equal("RuntimeDefault", seccomp?.GetValue<string>());

        var tmpMount = Items(container["volumeMounts"]).SingleOrDefault(m => Path(m, "mountPath") == "/tmp");
        Assert.True(tmpMount is not null, $"{overlay}: the read-only root needs a writable volume at /tmp");
        var tmpVolume = Items(pod["volumes"]).Single(v => Path(v, "name") == Path(tmpMount, "name"));
        Assert.NotNull(tmpVolume["emptyDir"]);

        Assert.True(pod["terminationGracePeriodSeconds"]!.GetValue<long>() is >= 20 and <= 120);
        Assert.True(pod["topologySpreadConstraints"] is JsonArray { Count: > 0 } || pod["affinity"]?["podAntiAffinity"] is not null,
            $"{overlay}: replicas should be spread across nodes");
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task ConfigurationSelectsClusterModeOnThePortsTheContainerExposes(string overlay, int replicas, string cpu, string memory)
    {
        _ = (replicas, cpu, memory);
        var rendered = await RenderAsync(overlay);
        var container = rendered.RegistryContainer;
        var config = rendered.EnvironmentConfigMap;

        Assert.Equal("Cluster", Path(config, "data.Registry__Mode"));
        var listen = new Uri(Path(config, "data.Registry__Listen"));
        Assert.Equal("0.0.0.0", listen.Host);
        Assert.Equal(ContainerPort(container, "http"), listen.Port);
        Assert.Equal(ContainerPort(container, "silo").ToString(CultureInfo.InvariantCulture), Path(config, "data.Registry__Cluster__SiloPort"));
        Assert.Equal("0", Path(config, "data.Registry__Cluster__GatewayPort"));
        Assert.False(string.IsNullOrWhiteSpace(Path(config, "data.Registry__Cluster__ClusterId")));
        Assert.False(string.IsNullOrWhiteSpace(Path(config, "data.Registry__Cluster__ServiceId")));
        Assert.False(string.IsNullOrWhiteSpace(Path(config, "data.Registry__Azure__Container")));
        Assert.StartsWith("/tmp", Path(config, "data.Registry__DataDirectory"), StringComparison.Ordinal);

        var advertised = Items(container["env"]).Single(e => Path(e, "name") == "Registry__Cluster__AdvertisedAddress");
        Assert.Equal("status.podIP", Path(advertised, "valueFrom.fieldRef.fieldPath"));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task NetworkPolicyAdmitsHttpFromAnywhereAndTheSiloPortOnlyFromRegistryPods(string overlay, int replicas, string cpu, string memory)
    {
        _ = (replicas, cpu, memory);
        var rendered = await RenderAsync(overlay);
        var policy = rendered.Single("NetworkPolicy", "registry");
        var podLabels = (JsonObject)rendered.Deployment["spec"]!["template"]!["metadata"]!["labels"]!;

        AssertSelects((JsonObject)policy["spec"]!["podSelector"]!["matchLabels"]!, podLabels, $"{overlay}: the NetworkPolicy");
        Assert.Equal(["Ingress"], Strings(policy["spec"]!["policyTypes"]));
        var rules = Items(policy["spec"]!["ingress"]).ToList();
        Assert.Equal(2, rules.Count);

        // Every admitted port, with who may use it: only http is open to all, only registry pods reach the silo.
        var http = Assert.Single(rules, r => Items(r["ports"]).Any(p => Path(p, "port") == "http"));
        Assert.Null(http["from"]);
        Assert.Equal(["http"], Items(http["ports"]).Select(p => Path(p, "port")));
        var silo = Assert.Single(rules, r => Items(r["ports"]).Any(p => Path(p, "port") == "silo"));
        Assert.Equal(["silo"], Items(silo["ports"]).Select(p => Path(p, "port")));
        var from = Assert.Single(Items(silo["from"]));
        Assert.Null(from["namespaceSelector"]);
        AssertSelects((JsonObject)from["podSelector"]!["matchLabels"]!, podLabels, $"{overlay}: the silo rule");
        Assert.DoesNotContain(Items(rendered.RegistryContainer["ports"]), p => Path(p, "name") is not ("http" or "silo"));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task PodsTakeTheirIdentityFromTheDownwardApiAndMayOnlyReadAndWatchPods(string overlay, int replicas, string cpu, string memory)
    {
        _ = (replicas, cpu, memory);
        var rendered = await RenderAsync(overlay);
        var container = rendered.RegistryContainer;
        var config = rendered.EnvironmentConfigMap;

        // What Orleans' Kubernetes hosting reads (and what turns it on): the pod's name, namespace and IP.
        foreach (var (name, field) in new[] { ("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace"), ("POD_IP", "status.podIP") })
        {
            var variable = Items(container["env"]).SingleOrDefault(e => Path(e, "name") == name);
            Assert.True(variable is not null, $"{overlay}: the registry container needs {name} from the downward API");
            Assert.Equal(field, Path(variable, "valueFrom.fieldRef.fieldPath"));
        }

        // The labels it finds the cluster's pods by equal the configured ids, so it never needs to patch them.
        var labels = rendered.Deployment["spec"]!["template"]!["metadata"]!["labels"]!;
        Assert.Equal(Path(config, "data.Registry__Cluster__ServiceId"), Path(labels, "orleans/serviceId"));
        Assert.Equal(Path(config, "data.Registry__Cluster__ClusterId"), Path(labels, "orleans/clusterId"));

        // The registry's pods mount their account's token; the account gives none to other pods by default.
        var accountName = Path(rendered.PodSpec, "serviceAccountName");
        var account = rendered.Single("ServiceAccount", accountName);
        Assert.Equal("false", Path(account, "automountServiceAccountToken"));
        Assert.Equal("true", Path(rendered.PodSpec, "automountServiceAccountToken"));
        foreach (var other in rendered.Objects.Where(o => Path(o, "kind") == "Deployment" && Path(o, "metadata.name") != "registry"))
        {
            Assert.Equal("false", Path(other, "spec.template.spec.automountServiceAccountToken"));
        }

        // Exactly: read, list, watch and patch pods, in the namespace; no delete, nothing cluster-wide.
        Assert.DoesNotContain(rendered.Objects, o => Path(o, "kind") is "ClusterRole" or "ClusterRoleBinding");
        var binding = Assert.Single(rendered.Objects, o => Path(o, "kind") == "RoleBinding"
            && Items(o["subjects"]).Any(s => Path(s, "kind") == "ServiceAccount" && Path(s, "name") == accountName));
        Assert.Equal("Role", Path(binding, "roleRef.kind"));
        Assert.All(Items(binding["subjects"]), s => Assert.Null(s["namespace"]));
        var role = rendered.Single("Role", Path(binding, "roleRef.name"));
        var rule = Assert.Single(Items(role["rules"]));
        Assert.Equal([""], Strings(rule["apiGroups"]));
        Assert.Equal(["pods"], Strings(rule["resources"]));
        Assert.Equal(["get", "list", "patch", "watch"], Strings(rule["verbs"]).Order(StringComparer.Ordinal));

        // And the Orleans gateway stays closed: the token does not open another way to the grains.
        Assert.Equal("0", Path(config, "data.Registry__Cluster__GatewayPort"));
        Assert.DoesNotContain(Items(container["ports"]), p => Path(p, "name") is not ("http" or "silo"));
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task ServiceAndDisruptionBudgetSelectTheDeploymentsPods(string overlay, int replicas, string cpu, string memory)
    {
        _ = (cpu, memory);
        var rendered = await RenderAsync(overlay);
        var podLabels = rendered.Deployment["spec"]!["template"]!["metadata"]!["labels"]!.AsObject();
        var selector = rendered.Deployment["spec"]!["selector"]!["matchLabels"]!.AsObject();

        var pdb = rendered.Single("PodDisruptionBudget", "registry");
        var pdbSelector = pdb["spec"]!["selector"]!["matchLabels"]!.AsObject();
        AssertSelects(pdbSelector, podLabels, "the PodDisruptionBudget");
        AssertSelects(pdbSelector, selector, "the PodDisruptionBudget (every pod of the Deployment)");
        if (pdb["spec"]!["minAvailable"] is { } minAvailable)
        {
            Assert.True(minAvailable.GetValue<long>() < replicas, $"{overlay}: minAvailable {minAvailable} would block every node drain with {replicas} replicas");
        }
        else
        {
            Assert.Equal(1, pdb["spec"]!["maxUnavailable"]!.GetValue<long>());
        }

        var service = rendered.Single("Service", "registry");
        Assert.Equal("ClusterIP", Path(service, "spec.type"));
        AssertSelects(service["spec"]!["selector"]!.AsObject(), podLabels, "the Service");
        var http = Items(service["spec"]!["ports"]).Single(p => Path(p, "name") == "http");
        Assert.Equal(5000, http["port"]!.GetValue<long>());
        Assert.Equal(ContainerPort(rendered.RegistryContainer, "http"), ResolvePort(rendered.RegistryContainer, http["targetPort"]!));
    }

    [Fact]
    public async Task DevOverlayRunsAzuriteAndPointsTheRegistryAtIt()
    {
        var rendered = await RenderAsync("dev");
        var azurite = rendered.Single("Deployment", "azurite");
        var container = Items(azurite["spec"]!["template"]!["spec"]!["containers"]).Single();
        var tested = JsonNode.Parse(File.ReadAllText(System.IO.Path.Combine(RepoRoot(), "tools", "azurite", "package.json")))!["dependencies"]!["azurite"]!.GetValue<string>();
        Assert.Equal($"mcr.microsoft.com/azure-storage/azurite:{tested}", Path(container, "image"));
        var args = Strings(container["command"]).Concat(Strings(container["args"])).ToList();
        Assert.Contains("--skipApiVersionCheck", args);
        Assert.Contains("--loose", args);
        Assert.Equal([10000L, 10001L, 10002L], Items(container["ports"]).Select(p => p["containerPort"]!.GetValue<long>()).Order());
        Assert.Contains(Items(azurite["spec"]!["template"]!["spec"]!["volumes"]), v => v["emptyDir"] is not null);

        var service = rendered.Single("Service", "azurite");
        AssertSelects(service["spec"]!["selector"]!.AsObject(), azurite["spec"]!["template"]!["metadata"]!["labels"]!.AsObject(), "the azurite Service");
        Assert.Equal([10000L, 10001L, 10002L], Items(service["spec"]!["ports"]).Select(p => p["port"]!.GetValue<long>()).Order());

        // The registry's connection string comes from the generated Secret and names the azurite Service.
        var reference = Items(rendered.RegistryContainer["env"]).Single(e => Path(e, "name") == "Registry__Azure__ConnectionString")["valueFrom"]!["secretKeyRef"]!;
        var secret = rendered.Single("Secret", Path(reference, "name"));
        var connectionString = Encoding.UTF8.GetString(Convert.FromBase64String(Path(secret, "data." + Path(reference, "key"))));
        Assert.Contains("AccountName=devstoreaccount1;", connectionString, StringComparison.Ordinal);
        foreach (var (endpoint, port) in new[] { ("Blob", 10000), ("Queue", 10001), ("Table", 10002) })
        {
            Assert.Contains($"{endpoint}Endpoint=http://azurite:{port}/devstoreaccount1", connectionString, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task TheAdminPasswordComesFromASecretAndAccessControlIsNotTurnedOff(string overlay, int replicas, string cpu, string memory)
    {
        _ = (replicas, cpu, memory);
        var rendered = await RenderAsync(overlay);

        // Access control is on by default and may not be off on 0.0.0.0; cluster mode needs the password.
        Assert.Null(rendered.EnvironmentConfigMap["data"]!["Registry__Access__Enabled"]);
        Assert.Null(rendered.EnvironmentConfigMap["data"]!["Registry__Access__AdminPassword"]);
        var variable = Items(rendered.RegistryContainer["env"]).Single(e => Path(e, "name") == "Registry__Access__AdminPassword");
        Assert.Null(variable["value"]);
        var reference = variable["valueFrom"]!["secretKeyRef"]!;
        Assert.Equal("password", Path(reference, "key"));
        Assert.NotEqual(true, reference["optional"]?.GetValue<bool>());
        Assert.StartsWith("registry-admin", Path(reference, "name"), StringComparison.Ordinal);

        if (overlay == "dev")
        {
            // The dev overlay carries a labelled, public dev password; no other overlay generates one.
            var secret = rendered.Single("Secret", Path(reference, "name"));
            Assert.Contains("not-secret", Encoding.UTF8.GetString(Convert.FromBase64String(Path(secret, "data.password"))), StringComparison.Ordinal);
        }
        else
        {
            Assert.Equal("registry-admin", Path(reference, "name"));
            Assert.DoesNotContain(rendered.Objects, o => Path(o, "kind") == "Secret");
        }
    }

    [Fact]
    public async Task AzureOverlayUsesWorkloadIdentityAndNoKeys()
    {
        var rendered = await RenderAsync("azure");
        var template = rendered.Deployment["spec"]!["template"]!;
        Assert.Equal("true", template["metadata"]!["labels"]!["azure.workload.identity/use"]?.GetValue<string>());

        var serviceAccount = rendered.Single("ServiceAccount", Path(rendered.PodSpec, "serviceAccountName"));
        Assert.False(string.IsNullOrWhiteSpace(serviceAccount["metadata"]!["annotations"]?["azure.workload.identity/client-id"]?.GetValue<string>()));

        Assert.DoesNotContain(rendered.Objects, o => Path(o, "kind") == "Secret");
        Assert.DoesNotContain(Items(rendered.RegistryContainer["env"]), e => Path(e, "name") == "Registry__Azure__ConnectionString");
        Assert.DoesNotContain("AccountKey=", rendered.Yaml, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("SharedAccessSignature", rendered.Yaml, StringComparison.OrdinalIgnoreCase);

        var config = rendered.EnvironmentConfigMap;
        Assert.Null(config["data"]!["Registry__Azure__ConnectionString"]);
        Assert.Matches(@"^https://[^/]+\.blob\.core\.windows\.net/?$", Path(config, "data.Registry__Azure__BlobServiceUri"));
    }

    /// <summary>
    /// No Docker engine runs the build here, so check what breaks it silently: the restore layer
    /// must copy every project Api references (directly or not), and the entry point must be
    /// the assembly Api builds.
    /// </summary>
    [Fact]
    public void DockerfileRestoresEveryProjectAndRunsTheApiAssembly()
    {
        var root = RepoRoot();
        var dockerfile = File.ReadAllText(System.IO.Path.Combine(root, "Dockerfile"));
        var lines = dockerfile.Split('\n').Select(l => l.Trim()).ToList();
        var restore = lines.FindIndex(l => l.StartsWith("RUN dotnet restore", StringComparison.Ordinal));
        Assert.True(restore > 0, "the Dockerfile restores in its own layer (RUN dotnet restore ...)");
        var copiedBeforeRestore = lines.Take(restore)
            .Where(l => l.StartsWith("COPY ", StringComparison.Ordinal))
            .SelectMany(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).SkipLast(1))
            .ToHashSet(StringComparer.Ordinal);

        foreach (var executable in new[] { "Api/Api.csproj", "SiloHost/SiloHost.csproj" })
        {
            foreach (var project in ProjectClosure(root, executable))
            {
                Assert.True(copiedBeforeRestore.Contains(project), $"Dockerfile: add `COPY {project} {System.IO.Path.GetDirectoryName(project)!.Replace('\\', '/')}/` before `RUN dotnet restore` ({executable} references it)");
            }

            // The headless silo host is in the image too (deploy/README.md, grain-only pods).
            Assert.Contains(lines, l => l.StartsWith($"RUN dotnet publish {executable} ", StringComparison.Ordinal) && l.Contains("-o /app ", StringComparison.Ordinal));
        }

        // The API is published last, so its libraries (the same or newer versions) are the ones in /app.
        Assert.True(
            lines.FindIndex(l => l.StartsWith("RUN dotnet publish SiloHost/", StringComparison.Ordinal)) < lines.FindIndex(l => l.StartsWith("RUN dotnet publish Api/", StringComparison.Ordinal)),
            "Dockerfile: publish SiloHost/SiloHost.csproj before Api/Api.csproj");

        foreach (var file in new[] { "Directory.Build.props", "Directory.Packages.props", "global.json" })
        {
            Assert.Contains(file, copiedBeforeRestore);
        }

        var assembly = XDocument.Load(System.IO.Path.Combine(root, "Api", "Api.csproj")).Descendants("AssemblyName").Single().Value;
        Assert.Contains($"ENTRYPOINT [\"dotnet\", \"{assembly}.dll\"]", lines);
        Assert.Contains(lines, l => l.StartsWith("FROM mcr.microsoft.com/dotnet/aspnet:10.0", StringComparison.Ordinal));

        var user = lines.Last(l => l.StartsWith("USER ", StringComparison.Ordinal))["USER ".Length..].Trim();
        Assert.True(user == "$APP_UID" || (long.TryParse(user, out var uid) && uid > 0), $"the image runs as a non-root uid, not `{user}`");
        var exposed = lines.Where(l => l.StartsWith("EXPOSE ", StringComparison.Ordinal)).SelectMany(l => l.Split(' ').Skip(1)).ToHashSet();
        Assert.Equal(new HashSet<string> { "5000", "11111" }, exposed);

        var ignored = File.ReadAllLines(System.IO.Path.Combine(root, ".dockerignore"));
        Assert.Contains("**/bin/", ignored);
        Assert.Contains("**/obj/", ignored);
    }

    private static void AssertSelects(JsonObject selector, JsonObject labels, string what)
    {
        Assert.NotEmpty(selector);
        foreach (var (key, value) in selector)
        {
            Assert.True(labels[key]?.GetValue<string>() == value!.GetValue<string>(), $"{what} selects {key}={value} but the pods are labelled {labels.ToJsonString()}");
        }
    }

    private static long ContainerPort(JsonNode container, string name)
        => Items(container["ports"]).Single(p => Path(p, "name") == name)["containerPort"]!.GetValue<long>();

    /// <summary>A port given by number or by the name of a container port.</summary>
    private static long ResolvePort(JsonNode container, JsonNode port)
        => port.GetValueKind() == System.Text.Json.JsonValueKind.Number ? port.GetValue<long>() : ContainerPort(container, port.GetValue<string>());

    private static string Path(JsonNode? node, string path)
    {
        foreach (var part in path.Split('.'))
        {
            node = node?[part];
        }

        return node?.ToString() ?? throw new XunitException($"{path} is missing");
    }

    private static IEnumerable<JsonNode> Items(JsonNode? node) => node is JsonArray array ? array.Select(n => n!) : [];

    private static IEnumerable<string> Strings(JsonNode? node) => Items(node).Select(n => n.GetValue<string>());

    /// <summary>The repository-relative paths of a project and every project it references, transitively.</summary>
    private static SortedSet<string> ProjectClosure(string root, string project)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([project]);
        while (pending.TryPop(out var current))
        {
            if (!found.Add(current))
            {
                continue;
            }

            var directory = System.IO.Path.GetDirectoryName(System.IO.Path.Combine(root, current))!;
            foreach (var reference in XDocument.Load(System.IO.Path.Combine(root, current)).Descendants("ProjectReference"))
            {
                var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(directory, reference.Attribute("Include")!.Value.Replace('\\', '/')));
                pending.Push(System.IO.Path.GetRelativePath(root, full).Replace('\\', '/'));
            }
        }

        return found;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Registry.sln")))
            {
                return dir.FullName;
            }
        }

        throw new XunitException($"no Registry.sln above {AppContext.BaseDirectory}");
    }

    private static Task<Rendered> RenderAsync(string overlay)
        => Renders.GetOrAdd(overlay, o => new Lazy<Task<Rendered>>(() => KustomizeAsync(o))).Value;

    private static async Task<Rendered> KustomizeAsync(string overlay)
    {
        var kubectl = FindOnPath("kubectl")
            ?? throw new XunitException("kubectl is not on PATH. The deploy tests render deploy/overlays/* with its built-in kustomize (no cluster needed): install kubectl >= 1.27 (https://kubernetes.io/docs/tasks/tools/; the machine image has /usr/bin/kubectl).");
        var directory = System.IO.Path.Combine(RepoRoot(), "deploy", "overlays", overlay);
        Assert.True(Directory.Exists(directory), $"{directory} is missing");

        var info = new ProcessStartInfo(kubectl)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("kustomize");
        info.ArgumentList.Add(directory);
        using var process = Process.Start(info) ?? throw new XunitException($"could not start {kubectl}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(KubectlTimeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new XunitException($"`kubectl kustomize {directory}` did not finish within {KubectlTimeout} and was killed\n{await stderr}");
        }

        var yaml = await stdout;
        if (process.ExitCode != 0)
        {
            throw new XunitException($"`kubectl kustomize {directory}` exited {process.ExitCode}\n{await stderr}");
        }

        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var objects = stream.Documents.Select(d => ToJson(d.RootNode)).OfType<JsonObject>().ToList();
        return new Rendered(overlay, yaml, objects);
    }

    /// <summary>A YAML node as JSON; plain scalars that read as integers or booleans become numbers and booleans.</summary>
    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(c => KeyValuePair.Create(((YamlScalarNode)c.Key).Value!, ToJson(c.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "null" or "~" or "" } => null,
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "true" } => JsonValue.Create(true),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "false" } => JsonValue.Create(false),
        YamlScalarNode { Style: ScalarStyle.Plain } scalar when long.TryParse(scalar.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number) => JsonValue.Create(number),
        YamlScalarNode scalar => JsonValue.Create(scalar.Value),
        _ => throw new XunitException($"unexpected YAML node {node.NodeType} at {node.Start}"),
    };

    private static string? FindOnPath(string name)
        => (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => System.IO.Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);

    /// <summary>The objects one overlay renders, with the registry's own ones at hand.</summary>
    private sealed record Rendered(string Overlay, string Yaml, IReadOnlyList<JsonObject> Objects)
    {
        public JsonObject Deployment => Single("Deployment", "registry");

        public JsonNode PodSpec => Deployment["spec"]!["template"]!["spec"]!;

        public JsonNode RegistryContainer => Items(PodSpec["containers"]).Single(c => Path(c, "name") == "registry");

        /// <summary>The ConfigMap the registry container takes its environment from (by its generated name).</summary>
        public JsonObject EnvironmentConfigMap
        {
            get
            {
                var names = Items(RegistryContainer["envFrom"]).Where(e => e["configMapRef"] is not null).Select(e => Path(e, "configMapRef.name")).ToList();
                Assert.True(names.Count == 1, $"{Overlay}: the registry container takes its environment from one ConfigMap, not [{string.Join(", ", names)}]");
                return Single("ConfigMap", names[0]);
            }
        }

        public JsonObject Single(string kind, string name)
        {
            var matches = Objects.Where(o => Path(o, "kind") == kind && Path(o, "metadata.name") == name).ToList();
            return matches.Count == 1
                ? matches[0]
                : throw new XunitException($"{Overlay}: expected one {kind} named {name}, found {matches.Count} among: {string.Join(", ", Objects.Select(o => $"{o["kind"]}/{o["metadata"]?["name"]}"))}");
        }
    }
}
