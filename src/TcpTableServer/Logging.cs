using Microsoft.Extensions.Logging;
using NLog;
using NLog.Extensions.Logging;
using NLog.Layouts;
using System.Diagnostics.CodeAnalysis;

namespace TcpTableServer.Host;

/// <summary>
/// NLog set-up: <c>nlog.config</c> beside the INI file, else beside the binary, else a
/// built-in console layout (stderr) so that the CLI and a bare server still log sensibly.
/// </summary>
public static class Logging
{
    // The published binary is Native AOT (scripts/publish). NLog builds typed layouts such as
    // Layout<bool> (Console stdErr="true") by reflection while it reads nlog.config; AOT only
    // has the value-type instantiations that are rooted here.
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors, typeof(Layout<bool>))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors, typeof(Layout<int>))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors, typeof(Layout<long>))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors, typeof(Layout<char>))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors, typeof(Layout<double>))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors, typeof(Layout<NLog.LogLevel>))]
    [DynamicDependency(DynamicallyAccessedMemberTypes.PublicConstructors, typeof(Layout<System.Text.Encoding>))]
    public static ILoggerFactory Create(string? iniPath, bool quiet = false)
    {
        var candidates = new List<string>();
        if (iniPath is not null)
            candidates.Add(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(iniPath)) ?? ".", "nlog.config"));
        candidates.Add(Path.Combine(AppContext.BaseDirectory, "nlog.config"));
        var file = quiet ? null : candidates.FirstOrDefault(File.Exists);
        // ${journal-priority}: "<4>" etc. under systemd's journal, nothing otherwise.
        LogManager.Setup().SetupExtensions(e =>
            e.RegisterLayoutRenderer("journal-priority", static ev => JournalPriority.Prefix(ev.Level)));

        if (file is not null)
            LogManager.Setup().LoadConfigurationFromFile(file, optional: false);
        else
            LogManager.Setup().LoadConfiguration(b =>
            {
                b.ForLogger("Microsoft.*").WriteToNil(NLog.LogLevel.Warn);
                b.ForLogger().FilterMinLevel(quiet ? NLog.LogLevel.Warn : NLog.LogLevel.Info)
                    .WriteToConsole("${journal-priority}${level:lowercase=true}: ${logger:shortName=true}: ${message}${onexception:inner= (${exception:format=message})}",
                        stderr: true);
            });
        return LoggerFactory.Create(b =>
        {
            b.ClearProviders();
            b.SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Trace);
            b.AddNLog();
        });
    }
}
