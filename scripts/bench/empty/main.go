// Command empty is the floor of the start-up comparison in `make bench`: a
// Go program that does nothing, built like jit.
//
// It is a benchmark helper, not part of jit.
package main

func main() {}
