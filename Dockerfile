# syntax=docker/dockerfile:1
# The registry image: `docker build -t orleans-registry:dev .` at the repository root.
# Without settings the container runs in embedded mode (one process, data under /var/lib/registry);
# the Kubernetes manifests in deploy/ switch it to cluster mode through Registry__* variables.

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# Restore with only the build settings and project files, so this layer is reused until a
# project file or a package version changes. Every project Api/Api.csproj and SiloHost/SiloHost.csproj
# reference, directly or not, must be listed here (tests/Registry.Tests/DeployTests.cs checks it).
COPY global.json Directory.Build.props Directory.Packages.props .editorconfig ./
COPY Api/Api.csproj Api/
COPY Server/Server.csproj Server/
COPY Silo/Silo.csproj Silo/
COPY SiloHost/SiloHost.csproj SiloHost/
COPY Grains/Grains.csproj Grains/
COPY Grains.Abstractions/Grains.Abstractions.csproj Grains.Abstractions/
COPY Storage/Storage.csproj Storage/
# Restored and published for the target's runtime, so that the build is ReadyToRun
# (precompiled; see Api/Api.csproj).
ARG TARGETARCH=amd64
RUN dotnet restore Api/Api.csproj -r "linux-$([ "$TARGETARCH" = arm64 ] && echo arm64 || echo x64)"
RUN dotnet restore SiloHost/SiloHost.csproj -r "linux-$([ "$TARGETARCH" = arm64 ] && echo arm64 || echo x64)"

COPY . .
# The headless silo host (grain-only pods, deploy/README.md) first, the API last into the same folder:
# where both ship a library, the API's copy stays, of the same or a newer version, which the silo
# host loads too.
RUN dotnet publish SiloHost/SiloHost.csproj -c Release -r "linux-$([ "$TARGETARCH" = arm64 ] && echo arm64 || echo x64)" --self-contained false -o /app --no-restore -p:UseAppHost=false
RUN dotnet publish Api/Api.csproj -c Release -r "linux-$([ "$TARGETARCH" = arm64 ] && echo arm64 || echo x64)" --self-contained false -o /app --no-restore -p:UseAppHost=false

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app

# Embedded mode by default, reachable from outside the container. The base image's
# ASPNETCORE_HTTP_PORTS=8080 is cleared: the registry binds Registry__Listen only.
ENV ASPNETCORE_HTTP_PORTS= \
    Registry__Mode=Embedded \
    Registry__Listen=http://0.0.0.0:5000 \
    Registry__DataDirectory=/var/lib/registry

# The data directory belongs to the unprivileged user the image runs as ($APP_UID, 1654).
RUN mkdir -p /var/lib/registry && chown "$APP_UID:$APP_UID" /var/lib/registry
VOLUME ["/var/lib/registry"]

COPY --from=build /app ./
USER $APP_UID

# 5000: HTTP API, health, metrics; 11111: Orleans silo-to-silo (cluster mode). No Orleans gateway.
EXPOSE 5000 11111
ENTRYPOINT ["dotnet", "Registry.Api.dll"]
