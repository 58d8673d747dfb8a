package dialogs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
	"github.com/sashabaranov/go-openai/jsonschema"

	"github.com/bottega-shop/bottega/catalog"
)

// WithOpenAI makes an OpenAI-compatible chat model (OpenAI, Ollama,
// llama-server with --jinja) the fallback for messages the rules cannot
// read. The model is asked to call one function; its arguments are checked
// against the catalog and thrown away if anything is unknown. The engine
// never needs it: a failure or a timeout is a misunderstanding, as without it.
func WithOpenAI(client *openai.Client, model string) Option {
	return func(c *config) {
		if client != nil {
			c.llm = &llm{client: client, model: model}
		}
	}
}

// WithLLMTimeout bounds one language-model call (default 3 s).
func WithLLMTimeout(d time.Duration) Option { return func(c *config) { c.llmTimeout = d } }

// llm is the language-model fallback.
type llm struct {
	client  *openai.Client
	model   string
	timeout time.Duration
}

// toolName is the function the model must call.
const toolName = "interpret_message"

// llmIntents are the intents the model may return.
var llmIntents = []string{"stock", "price", "greeting", "thanks", "help", "person", "other"}

// llmResult is the function's arguments, decoded strictly.
type llmResult struct {
	Intent   string   `json:"intent"`
	Product  string   `json:"product"`
	Sizes    []string `json:"sizes"`
	Colours  []string `json:"colours"`
	Quantity int      `json:"quantity"`
	Language string   `json:"language"`
}

var (
	emailRE = regexp.MustCompile(`[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}\-]+(\.[\p{L}\p{N}\-]+)+`)
	// phoneRE finds runs of digits with the usual separators; redact keeps
	// those with seven digits or more.
	phoneRE = regexp.MustCompile(`\+?\(?\d[\d\s().\-/]{5,}\d`)
)

// redact replaces e-mail addresses and phone numbers before text leaves
// for the model.
// The rules read the redacted text too, so that a phone number is not
// taken for sizes. The expressions run only when the text could hold one.
func redact(text string) string {
	if strings.IndexByte(text, '@') >= 0 {
		text = emailRE.ReplaceAllString(text, "[email]")
	}
	digits := 0
	for i := 0; i < len(text); i++ {
		if '0' <= text[i] && text[i] <= '9' {
			digits++
		}
	}
	if digits < 7 {
		return text
	}
	return phoneRE.ReplaceAllStringFunc(text, func(s string) string {
		n := 0
		for _, r := range s {
			if r >= '0' && r <= '9' {
				n++
			}
		}
		if n < 7 {
			return s
		}
		return "[phone]"
	})
}

func (l *llm) tool() openai.Tool {
	str := jsonschema.Definition{Type: jsonschema.String}
	return openai.Tool{Type: openai.ToolTypeFunction, Function: &openai.FunctionDefinition{
		Name:        toolName,
		Description: "Record what a shop customer's chat message asks.",
		Parameters: jsonschema.Definition{
			Type: jsonschema.Object,
			Properties: map[string]jsonschema.Definition{
				"intent":   {Type: jsonschema.String, Enum: llmIntents, Description: "what the message asks for"},
				"product":  {Type: jsonschema.String, Description: "the product's name as the shop names it, or empty"},
				"sizes":    {Type: jsonschema.Array, Items: &str, Description: "sizes asked for, e.g. 42, 42.5, M, W32"},
				"colours":  {Type: jsonschema.Array, Items: &str, Description: "colours asked for, in English"},
				"quantity": {Type: jsonschema.Integer, Description: "how many, 0 if not said"},
				"language": {Type: jsonschema.String, Description: "the message's language: it or en"},
			},
			Required:             []string{"intent"},
			AdditionalProperties: false,
		},
	}}
}

// interpret asks the model to read text, then validates the answer against
// the catalog. ok is false on any failure or doubt.
func (l *llm) interpret(ctx context.Context, e *Engine, v *vocab, text string) (*understanding, bool) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	cats := v.categories
	if len(cats) > 20 {
		cats = cats[:20]
	}
	colours := make([]string, 0, len(v.colours))
	for c := range v.colours {
		colours = append(colours, c)
	}
	sort.Strings(colours)
	system := fmt.Sprintf("You read messages sent to an online shop's chat. The shop sells: %s. Colours: %s. "+
		"Call %s once with what the message asks. Leave out anything the message does not say.",
		strings.Join(cats, ", "), strings.Join(colours, ", "), toolName)
	tool := l.tool()
	resp, err := l.client.CreateChatCompletion(ctx, openai.ChatCompletionRequest{
		Model: l.model,
		Messages: []openai.ChatCompletionMessage{
			{Role: openai.ChatMessageRoleSystem, Content: system},
			{Role: openai.ChatMessageRoleUser, Content: redact(text)},
		},
		Tools:       []openai.Tool{tool},
		ToolChoice:  openai.ToolChoice{Type: openai.ToolTypeFunction, Function: openai.ToolFunction{Name: toolName}},
		Temperature: 0,
	})
	if err != nil {
		e.log.Warn("dialogs: language model failed", "err", err)
		return nil, false
	}
	res, err := decodeToolCall(resp)
	if err != nil {
		e.log.Warn("dialogs: language model answer rejected", "err", err)
		return nil, false
	}
	u, err := l.validate(ctx, e, v, res)
	if err != nil {
		e.log.Info("dialogs: language model answer rejected", "err", err)
		return nil, false
	}
	return u, true
}

// decodeToolCall reads the function's arguments, refusing unknown fields.
func decodeToolCall(resp openai.ChatCompletionResponse) (llmResult, error) {
	var res llmResult
	if len(resp.Choices) == 0 {
		return res, errors.New("no choices")
	}
	for _, tc := range resp.Choices[0].Message.ToolCalls {
		if tc.Function.Name != toolName {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(tc.Function.Arguments))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&res); err != nil {
			return res, fmt.Errorf("arguments: %w", err)
		}
		if dec.More() {
			return res, errors.New("arguments: trailing data")
		}
		return res, nil
	}
	return res, errors.New("no call of " + toolName)
}

// validate turns the model's answer into an understanding, rejecting
// intents, products, sizes and colours the catalog does not know.
func (l *llm) validate(ctx context.Context, e *Engine, v *vocab, res llmResult) (*understanding, error) {
	u := &understanding{}
	switch res.Intent {
	case "stock":
	case "price":
		u.Price = true
	case "greeting":
		u.Greet = true
	case "thanks":
		u.Thanks = true
	case "help":
		u.Help = true
	case "person":
		u.Person = true
	case "other":
		return nil, errors.New("intent other")
	default:
		return nil, fmt.Errorf("unknown intent %q", res.Intent)
	}
	if res.Language != "" && !e.texts.has(baseLang(res.Language)) {
		return nil, fmt.Errorf("unknown language %q", res.Language)
	}
	if res.Quantity < 0 || res.Quantity > 99 {
		return nil, fmt.Errorf("quantity %d", res.Quantity)
	}
	u.Qty = res.Quantity
	for _, s := range res.Sizes {
		k := catalog.SizeKey(s)
		if !v.sizes[k] {
			return nil, fmt.Errorf("unknown size %q", s)
		}
		u.Sizes = appendNew(u.Sizes, k)
	}
	for _, c := range res.Colours {
		k, ok := catalog.KnownColour(c)
		if !ok || !v.colours[k] {
			return nil, fmt.Errorf("unknown colour %q", c)
		}
		u.Colours = appendNew(u.Colours, k)
	}
	if res.Product != "" {
		var ws []string
		for _, w := range contentWords(e.lex, res.Product) {
			if !strings.HasPrefix(w, "_") && v.known(w) < 0 {
				return nil, fmt.Errorf("unknown product word %q", w)
			}
			ws = append(ws, w)
		}
		u.Product = slots(v, ws)
		r, err := e.resolve(ctx, v, u)
		if err != nil {
			return nil, err
		}
		if len(r.best) == 0 || r.partial {
			return nil, fmt.Errorf("unknown product %q", res.Product)
		}
	}
	if res.Intent == "stock" && !u.hasEntities() {
		return nil, errors.New("stock question without product, size or colour")
	}
	return u, nil
}
