package normalize

//go:generate go run ./internal/gen -data ../../testdata/unicode-15.0.0 -o tables.go
