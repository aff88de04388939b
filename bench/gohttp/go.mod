module stormwulf/bench/gohttp

go 1.19
