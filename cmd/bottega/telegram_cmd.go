package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bottega-shop/bottega/bot/telegram"
)

// errTelegramUsage is the telegram command's usage line.
var errTelegramUsage = errors.New("usage: bottega telegram set-webhook | webhook-info")

// telegramCallTimeout bounds one Bot API call of the telegram command.
const telegramCallTimeout = 30 * time.Second

// telegramCommand runs `bottega telegram SUBCOMMAND`: set-webhook registers
// BOTTEGA_PUBLIC_URL + /webhooks/telegram with Telegram, webhook-info shows
// what Telegram has registered and its last delivery error.
func telegramCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 || (args[0] != "set-webhook" && args[0] != "webhook-info") {
		return errTelegramUsage
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if cfg.TelegramBotToken == "" {
		return errors.New("TELEGRAM_BOT_TOKEN: required: the token @BotFather gave your bot")
	}
	ctx, cancel := context.WithTimeout(ctx, telegramCallTimeout)
	defer cancel()
	if args[0] == "webhook-info" {
		return webhookInfo(ctx, cfg, stdout)
	}
	return setWebhook(ctx, cfg, stdout)
}

// setWebhook registers the webhook with the secret and the update types
// the channel handles, and prints one line. It never prints the token or
// the secret.
func setWebhook(ctx context.Context, cfg *config, stdout io.Writer) error {
	hook, err := webhookURL(cfg.PublicURL)
	if err != nil {
		return err
	}
	s, err := telegram.NewSender(cfg.TelegramBotToken, cfg.TelegramAPIURL)
	if err != nil {
		return fmt.Errorf("telegram set-webhook: %w", err)
	}
	if err := s.SetWebhook(ctx, cfg.PublicURL, cfg.TelegramWebhookSecret); err != nil {
		return fmt.Errorf("telegram set-webhook: %w", err)
	}
	fmt.Fprintf(stdout, "telegram webhook set: %s (secret from TELEGRAM_WEBHOOK_SECRET)\n", hook)
	return nil
}

// webhookURL is where Telegram must post updates, from BOTTEGA_PUBLIC_URL,
// which Telegram wants https.
func webhookURL(publicURL string) (string, error) {
	if publicURL == "" {
		return "", errors.New("BOTTEGA_PUBLIC_URL: required: the public https address of this server, where Telegram posts updates (https://bottega.your-shop.example)")
	}
	u, err := url.Parse(publicURL)
	switch {
	case err != nil:
		return "", errors.New("BOTTEGA_PUBLIC_URL: want an absolute https URL")
	case u.Scheme != "https":
		return "", fmt.Errorf("BOTTEGA_PUBLIC_URL: Telegram posts updates only to https addresses, got %s://", u.Scheme)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return "", errors.New("BOTTEGA_PUBLIC_URL: want a base URL without user, query or fragment")
	}
	return strings.TrimRight(publicURL, "/") + telegram.WebhookPath, nil
}

// webhookState is getWebhookInfo's result.
type webhookState struct {
	URL              string   `json:"url"`
	PendingUpdates   int      `json:"pending_update_count"`
	LastErrorDate    int64    `json:"last_error_date"`
	LastErrorMessage string   `json:"last_error_message"`
	MaxConnections   int      `json:"max_connections"`
	AllowedUpdates   []string `json:"allowed_updates"`
}

// webhookInfo prints what Telegram has registered: the URL, the updates
// waiting, the last delivery error, and whether the URL is the one
// BOTTEGA_PUBLIC_URL gives.
func webhookInfo(ctx context.Context, cfg *config, stdout io.Writer) error {
	st, err := getWebhookInfo(ctx, cfg.TelegramAPIURL, cfg.TelegramBotToken)
	if err != nil {
		return err
	}
	var b strings.Builder
	url := st.URL
	if url == "" {
		url = "(none: run bottega telegram set-webhook)"
	}
	fmt.Fprintf(&b, "url              %s\n", url)
	fmt.Fprintf(&b, "pending updates  %d\n", st.PendingUpdates)
	if st.MaxConnections > 0 {
		fmt.Fprintf(&b, "max connections  %d\n", st.MaxConnections)
	}
	allowed := "(Telegram's default)"
	if len(st.AllowedUpdates) > 0 {
		allowed = strings.Join(st.AllowedUpdates, ", ")
	}
	fmt.Fprintf(&b, "allowed updates  %s\n", allowed)
	if st.LastErrorDate > 0 {
		fmt.Fprintf(&b, "last error       %s: %s\n", time.Unix(st.LastErrorDate, 0).UTC().Format(time.RFC3339), telegram.Truncate(st.LastErrorMessage, 300))
	} else {
		b.WriteString("last error       none\n")
	}
	if want, err := webhookURL(cfg.PublicURL); err == nil && st.URL != "" && st.URL != want {
		fmt.Fprintf(&b, "note             BOTTEGA_PUBLIC_URL gives %s; run bottega telegram set-webhook\n", want)
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// getWebhookInfo calls the Bot API's getWebhookInfo. Errors never hold
// the token, which is part of the method's URL.
func getWebhookInfo(ctx context.Context, apiURL, token string) (*webhookState, error) {
	endpoint := strings.TrimRight(apiURL, "/") + "/bot" + token + "/getWebhookInfo"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return nil, errors.New("telegram webhook-info: TELEGRAM_API_URL does not make a request URL")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = strings.ReplaceAll(ue.URL, token, "***")
		}
		return nil, fmt.Errorf("telegram webhook-info: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		OK          bool          `json:"ok"`
		Result      *webhookState `json:"result"`
		ErrorCode   int           `json:"error_code"`
		Description string        `json:"description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("telegram webhook-info: HTTP %d: the answer is not the Bot API's JSON", resp.StatusCode)
	}
	if !body.OK || body.Result == nil {
		return nil, fmt.Errorf("telegram webhook-info: error %d: %s", body.ErrorCode, telegram.Truncate(body.Description, 300))
	}
	return body.Result, nil
}
