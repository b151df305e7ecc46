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
// saying it checks. Screenshots: testoutput/dns-*.png.
func TestBrowserDNS(t *testing.T) {
	alloc, out := startChromium(t)
	s, c, _ := dnsSite(t)
	c.Check(context.Background())
	for _, width := range []int64{390, 1280} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			ctx, cancel := chromedp.NewContext(alloc)
			defer cancel()
			ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
			defer cancel()
			shot := screenshot(out, width)
			var fit []int
			var shown bool
			err := chromedp.Do(ctx,
				chromedp.EmulateViewport(width, 800),
				chromedp.Navigate(s.srv.URL+"/dns"),
				chromedp.WaitVisible(chromedp.CSS("#login")),
				chromedp.SendKeys(chromedp.CSS("#user"), boss),
				chromedp.SendKeys(chromedp.CSS("#password"), bossPW),
				chromedp.Submit(chromedp.CSS("#login")),
				chromedp.WaitVisible(chromedp.CSS("#example\\.org-mx")),
				// The copy buttons show once the script has run (a
				// timeout here: it did not).
				chromedp.WaitVisible(chromedp.CSS(`button[data-copy="example.org-mx-value"]`)),
				chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					var err error
					fit, err = chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`)(ctx, tg)
					if err != nil {
						return err
					}
					shown, err = chromedp.Evaluate[bool](`!document.querySelector('button[data-copy="example.org-mx-value"]').hidden`)(ctx, tg)
					return err
				}),
				shot("dns"),
				chromedp.Click(chromedp.CSS(`button[data-copy="example.org-mx-value"]`)),
				chromedp.WaitVisible(chromedp.Search(`//button[@data-copy="example.org-mx-value"][contains(., "Cop")]`)),
				chromedp.Submit(chromedp.CSS("#recheck")),
				// The page reloads itself while the check runs: ask
				// each document afresh rather than wait on one node.
				chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					for ctx.Err() == nil {
						if ok, err := chromedp.Evaluate[bool](`document.readyState === "complete" && document.getElementById("checking") !== null`)(ctx, tg); err == nil && ok {
							return nil
						}
						select {
						case <-ctx.Done():
						case <-time.After(100 * time.Millisecond):
						}
					}
					return ctx.Err()
				}),
				shot("dns-checking"),
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
			c.Check(context.Background()) // the background check of the test
		})
	}
}
