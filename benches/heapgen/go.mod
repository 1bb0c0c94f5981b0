module refgraph.bench/heapgen

go 1.21
