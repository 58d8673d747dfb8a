package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// helloWorld serves a bare Fiber hello-world on a loopback port and loads
// it for d with conns keep-alive clients, each sending its next request
// when the last is answered: the ceiling of this machine for Fiber itself,
// to put the chat figures in scale.
func helloWorld(ctx context.Context, conns int, d time.Duration) (*HelloReport, error) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/", func(c *fiber.Ctx) error { return c.SendString("Hello, World!") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	defer func() {
		app.ShutdownWithTimeout(5 * time.Second)
		<-served
	}()

	client := &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: conns}
	uri := "http://" + ln.Addr().String() + "/"
	var requests, failures atomic.Int64
	var firstErr error
	var once sync.Once
	end := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(uri)
			for ctx.Err() == nil && time.Now().Before(end) {
				err := client.DoTimeout(req, resp, 5*time.Second)
				if err == nil && resp.StatusCode() != fiber.StatusOK {
					err = fmt.Errorf("HTTP %d", resp.StatusCode())
				}
				if err != nil {
					failures.Add(1)
					once.Do(func() { firstErr = err })
					continue
				}
				requests.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("interrupted: %w", err)
	}
	if requests.Load() == 0 && firstErr != nil {
		return nil, errors.Join(errors.New("no request answered"), firstErr)
	}
	return &HelloReport{
		Connections: conns, Seconds: elapsed.Seconds(), Requests: requests.Load(),
		RequestsPerSecond: float64(requests.Load()) / elapsed.Seconds(), Errors: failures.Load(),
	}, nil
}
