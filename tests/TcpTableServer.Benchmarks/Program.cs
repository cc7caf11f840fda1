using BenchmarkDotNet.Running;

// scripts/bench --micro, or: dotnet run -c Release --project tests/TcpTableServer.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
