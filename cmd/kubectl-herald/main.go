package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldlb/herald/inspect"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := inspect.Run(ctx, inspect.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}
