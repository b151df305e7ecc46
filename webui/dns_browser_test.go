package webui

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserDNS opens /dns in chromium at a phone's width and a
// desktop's, after a check that found the MX at the old provider: the
// page is no wider than the window, the copy buttons show (the script
// the CSP allows ran) and copy, and "Check again" leads back to the page
// saying it checks, until the check is done. Screenshots:
// testoutput/dns-*.png.
func TestBrowserDNS(t *testing.T) {
	s, c, _ := dnsSite(t)
	c.Check(context.Background())
	for _, width := range []int64{390, 1280} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			// A browser of its own, with a new profile: a second start
			// on the first's profile sometimes waits for the first.
			alloc, out := startChromium(t)
			ctx, cancel := chromedp.NewContext(alloc)
			defer cancel()
			ctx, cancel = context.WithTimeout(ctx, 4*time.Minute) // a bound, not a speed target: a loaded machine is slow
			defer cancel()
			shot := screenshot(out, width)
			var fit []int
			var shown bool
			err := chromedp.Do(ctx,
				chromedp.EmulateViewport(width, 800),
				chromedp.Navigate(s.srv.URL+"/dns"),
				waitJS(`document.getElementById("login") !== null`),
				chromedp.SendKeys(chromedp.CSS("#user"), boss),
				chromedp.SendKeys(chromedp.CSS("#password"), bossPW),
				chromedp.Submit(chromedp.CSS("#login")),
				// The copy buttons show once the script has run (a
				// timeout here: it did not).
				waitJS(`document.readyState === "complete" && document.getElementById("example.org-mx") !== null &&
					!document.querySelector('button[data-copy="example.org-mx-value"]').hidden`),
				chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					var err error
					fit, err = chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`)(ctx, tg)
					if err != nil {
						return err
					}
					shown, err = chromedp.Evaluate[bool](`!document.querySelector('button[data-copy="example.org-mx-value"]').hidden`)(ctx, tg)
					return err
				}),
				retry(shot("dns")),
				chromedp.Click(chromedp.CSS(`button[data-copy="example.org-mx-value"]`)),
				// The script's answer: "Copied", or where the browser
				// refuses, "Select and copy by hand".
				waitJS(`document.querySelector('button[data-copy="example.org-mx-value"]').textContent !== "Copy"`),
				chromedp.Submit(chromedp.CSS("#recheck")),
				// The page reloads itself while the check runs.
				waitJS(`document.readyState === "complete" && document.getElementById("checking") !== null`),
				// The check ends; the page's next reload shows it and
				// reloads no more.
				chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
					c.Check(ctx)
					return nil
				}),
				waitJS(`document.readyState === "complete" && document.getElementById("checking") === null && document.getElementById("to-fix") !== null`),
				retry(shot("dns-checked")),
			)
			if err != nil {
				t.Fatalf("browser: %v\nlog:\n%s", err, s.log)
			}
			if len(fit) != 2 || fit[0] > fit[1] {
				t.Errorf("the page is %v px wide in the window", fit)
			}
			if !shown {
				t.Error("the copy buttons stay hidden: the script did not run")
			}
		})
	}
}

// waitJS waits until expr is true in the page, asking each document
// afresh, each time for at most a few seconds: a page that reloads itself
// (the DNS page while it checks) takes away the document a single wait
// would hang on.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for ctx.Err() == nil {
			actx, cancel := context.WithTimeout(ctx, 3*time.Second)
			ok, err := chromedp.Evaluate[bool](expr)(actx, tg)
			cancel()
			if err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		return fmt.Errorf("waiting for %s: %w", expr, ctx.Err())
	})
}

// retry runs a screenshot again when it does not finish in 20 s: on a
// loaded machine chromium sometimes never sends the frame.
func retry(a chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		for range 3 {
			actx, cancel := context.WithTimeout(ctx, 20*time.Second)
			_, err = a(actx, tg)
			cancel()
			if err == nil || ctx.Err() != nil {
				return err
			}
		}
		return err
	})
}
