module kelp/render

go 1.19
