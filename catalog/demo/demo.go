// Package demo holds the demo catalog: an invented Italian shop of shoes,
// apparel, jeans and accessories, with synonyms and size charts, that Bottega
// loads into an empty catalog so that it can be tried without data of one's
// own. The brands are invented.
package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/bottega-shop/bottega/catalog"
)

// BaseURL is the demo shop's address, used in product page and image links.
const BaseURL = "https://bottega.example"

// Size chart names used by the demo products.
const (
	ChartShoes   = "shoes-eu"
	ChartApparel = "apparel"
	ChartWaist   = "waist"
	ChartSocks   = "socks"
	ChartOneSize = "one-size"
)

// Catalog returns the demo products, synonyms and size charts. It returns the
// same values on every call, in new slices the caller may change.
func Catalog() (products []catalog.Product, synonyms []catalog.Synonym, charts []catalog.SizeChart) {
	rng := rand.New(rand.NewPCG(20251123, 42))
	products = append(products, trailRunner())
	for _, l := range lines {
		products = l.products(rng, products)
	}
	return products, Synonyms(), SizeCharts()
}

// trailRunner is the product the documentation and the end-to-end tests talk
// about: red 42 is sold out, red 41 and 43 are in stock, red 44 has 3 left.
func trailRunner() catalog.Product {
	p := catalog.Product{
		Handle:      "trail-runner",
		Title:       "Trail Runner",
		Titles:      map[string]string{"en": "Trail Runner"},
		Brand:       "Vettore",
		Category:    "scarpe da trail",
		Description: "Scarpa da trail running leggera e stabile, con suola scolpita per sentieri tecnici e fango. Tomaia in mesh rinforzato e puntale protettivo.",
		Attributes:  map[string]string{"material": "mesh rinforzato", "gender": "unisex", "drop": "6 mm"},
		ImageURL:    BaseURL + "/img/trail-runner.jpg",
		PageURL:     BaseURL + "/prodotti/trail-runner",
		PriceMinor:  12990,
		Currency:    "EUR",
		SizeChart:   ChartShoes,
		Active:      true,
	}
	stock := map[string][]int{
		//         39 40 41 42 43 44 45
		"rosso": {4, 7, 6, 0, 4, 3, 2},
		"nero":  {5, 8, 9, 12, 7, 5, 3},
	}
	for _, c := range []string{"rosso", "nero"} {
		for i, n := range stock[c] {
			size := fmt.Sprint(39 + i)
			p.Variants = append(p.Variants, catalog.Variant{
				SKU: "TRL-000-" + colourCode(c) + "-" + size, Size: size, Colour: c, Stock: n,
			})
		}
	}
	return p
}

// gender is who a product line is cut for.
type gender struct {
	it, en, attr string
}

var (
	men    = gender{"uomo", "Men's", "uomo"}
	women  = gender{"donna", "Women's", "donna"}
	unisex = gender{"", "", "unisex"}
)

// model is a product's name in Italian and English, and its material when
// the name says it.
type model struct {
	it, en, material string
}

// named returns models called the same in both languages.
func named(names ...string) []model {
	ms := make([]model, len(names))
	for i, n := range names {
		ms[i] = model{it: n, en: n}
	}
	return ms
}

// line is a family of products generated alike: every model in every gender.
type line struct {
	code     string // SKU prefix
	category string
	chart    string
	brands   []string
	// it and en are title patterns taking the model's name and the gender's
	// word in that language.
	it, en    string
	models    []model
	genders   []gender
	colours   []string
	maxColour int
	materials []string
	// euros is the price range, in whole euros; prices end in .90.
	euros [2]int
	descs []string // Italian descriptions taking the material
	sizes func(rng *rand.Rand, g gender) []string
	// skip leaves out products by position, to keep the counts round.
	skip int
}

func (l line) products(rng *rand.Rand, out []catalog.Product) []catalog.Product {
	n := 0
	for _, m := range l.models {
		for _, g := range l.genders {
			n++
			if l.skip > 0 && n%l.skip == 0 {
				continue
			}
			out = append(out, l.product(rng, len(out), m, g))
		}
	}
	return out
}

func (l line) product(rng *rand.Rand, id int, m model, g gender) catalog.Product {
	title := words(fmt.Sprintf(l.it, m.it, g.it))
	handle := slug(title)
	material := m.material
	if material == "" {
		material = pick(rng, l.materials)
	}
	p := catalog.Product{
		Handle:      handle,
		Title:       title,
		Titles:      map[string]string{"en": words(fmt.Sprintf(l.en, m.en, g.en))},
		Brand:       pick(rng, l.brands),
		Category:    l.category,
		Description: fmt.Sprintf(pick(rng, l.descs), material),
		Attributes:  map[string]string{"material": material, "gender": g.attr},
		ImageURL:    BaseURL + "/img/" + handle + ".jpg",
		PageURL:     BaseURL + "/prodotti/" + handle,
		PriceMinor:  int64(l.euros[0]+5*rng.IntN((l.euros[1]-l.euros[0])/5+1))*100 - 10,
		Currency:    "EUR",
		SizeChart:   l.chart,
		Active:      true,
	}
	k := 1 + rng.IntN(l.maxColour)
	sizes := l.sizes(rng, g)
	for _, ci := range rng.Perm(len(l.colours))[:k] {
		c := l.colours[ci]
		for _, s := range sizes {
			p.Variants = append(p.Variants, catalog.Variant{
				SKU:    fmt.Sprintf("%s-%03d-%s-%s", l.code, id, colourCode(c), sizeCode(s)),
				Size:   s,
				Colour: c,
				Stock:  stock(rng),
			})
		}
	}
	return p
}

// stock is mostly healthy, about one variant in ten low and one sold out.
func stock(rng *rand.Rand) int {
	switch r := rng.Float64(); {
	case r < 0.10:
		return 0
	case r < 0.20:
		return 1 + rng.IntN(3)
	default:
		return 4 + rng.IntN(22)
	}
}

func pick(rng *rand.Rand, from []string) string { return from[rng.IntN(len(from))] }

func words(s string) string { return strings.Join(strings.Fields(s), " ") }

// slug makes a handle from an Italian title.
func slug(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range catalog.Fold(title) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		default:
			dash = true
		}
	}
	return b.String()
}

// colourCodes are the SKU codes of the demo's colour words; two words of
// one colour ("marrone", "cuoio") need codes of their own.
var colourCodes = map[string]string{
	"nero": "BLK", "bianco": "WHT", "rosso": "RED", "blu": "BLU", "blu navy": "NVY",
	"azzurro": "AZR", "grigio": "GRY", "arancione": "ORG", "giallo": "YEL", "verde": "GRN",
	"verde oliva": "OLV", "rosa": "PNK", "beige": "BGE", "sabbia": "SND", "bordeaux": "BDX",
	"marrone": "BRN", "cuoio": "CUO", "testa di moro": "TDM", "oro": "GLD", "multicolore": "MLT",
}

func colourCode(c string) string {
	if code, ok := colourCodes[c]; ok {
		return code
	}
	return strings.ToUpper(strings.ReplaceAll(catalog.Fold(c), " ", ""))
}

func sizeCode(s string) string {
	if catalog.SizeKey(s) == catalog.OneSize {
		return "TU"
	}
	return s
}

// Shoe sizes. Men's lines run 39 or 40 to 45 or 46, women's 36 to 41; some
// models come in half sizes too.
func shoeSizes(halves bool) func(rng *rand.Rand, g gender) []string {
	return func(rng *rand.Rand, g gender) []string {
		var sizes []string
		lo, hi := 40, 45
		if g == women {
			lo, hi = 36, 41
		}
		if rng.IntN(3) == 0 {
			lo--
		}
		if rng.IntN(3) == 0 {
			hi++
		}
		lo, hi = max(lo, 36), min(hi, 46)
		half := halves && rng.IntN(2) == 0
		for s := lo; s <= hi; s++ {
			sizes = append(sizes, fmt.Sprint(s))
			if half && (s == 42 || s == 44 || s == 38) && s < hi {
				sizes = append(sizes, fmt.Sprint(s)+".5")
			}
		}
		return sizes
	}
}

func letterSizes(rng *rand.Rand, g gender) []string {
	switch {
	case g == women:
		return []string{"XS", "S", "M", "L", "XL"}
	case rng.IntN(2) == 0:
		return []string{"XS", "S", "M", "L", "XL", "XXL"}
	default:
		return []string{"S", "M", "L", "XL", "XXL"}
	}
}

func waistSizes(rng *rand.Rand, g gender) []string {
	if g == women {
		return []string{"W28", "W29", "W30", "W31", "W32", "W33", "W34"}
	}
	sizes := []string{"W30", "W31", "W32", "W33", "W34", "W36", "W38"}
	if rng.IntN(2) == 0 {
		sizes = append([]string{"W28", "W29"}, sizes...)
	}
	return sizes
}

func oneSize(*rand.Rand, gender) []string { return []string{"Taglia unica"} }

func sockSizes(*rand.Rand, gender) []string { return []string{"S", "M", "L"} }

var lines = []line{
	{
		code: "RUN", category: "scarpe da running", chart: ChartShoes,
		brands: []string{"Corsaro", "Passolungo"},
		it:     "Scarpa da running %s %s", en: "%[2]s %[1]s running shoe",
		models:  named("Zefiro", "Maestrale", "Scirocco", "Libeccio", "Grecale", "Levante", "Ponente", "Tramontana", "Brezza", "Ostro", "Garbino"),
		genders: []gender{men, women},
		colours: []string{"nero", "bianco", "blu", "grigio", "rosso", "arancione", "giallo", "verde", "rosa", "blu navy"}, maxColour: 3,
		materials: []string{"mesh tecnico", "maglia ingegnerizzata", "mesh riciclato"},
		euros:     [2]int{80, 180},
		descs: []string{
			"Scarpa da running ammortizzata per gli allenamenti quotidiani su strada. Tomaia in %s traspirante e suola in gomma resistente.",
			"Leggera e reattiva, pensata per i ritmi veloci e le gare fino alla mezza maratona. Tomaia in %s che avvolge il piede.",
			"Ammortizzazione generosa per i lunghi della domenica. Tomaia in %s e linguetta imbottita.",
		},
		sizes: shoeSizes(true),
	},
	{
		code: "TRL", category: "scarpe da trail", chart: ChartShoes,
		brands: []string{"Vettore", "Sentiero Alto"},
		it:     "Scarpa da trail %s %s", en: "%[2]s %[1]s trail running shoe",
		models:  named("Cresta", "Forcella", "Ghiaione", "Sella", "Pizzo", "Vetta", "Crinale", "Dolomia", "Morena"),
		genders: []gender{men, women},
		colours: []string{"nero", "grigio", "verde oliva", "arancione", "blu", "rosso", "giallo"}, maxColour: 3,
		materials: []string{"mesh rinforzato", "ripstop", "membrana impermeabile"},
		euros:     [2]int{100, 190},
		descs: []string{
			"Scarpa da trail running con tasselli profondi per fango e terreni sconnessi. Tomaia in %s con puntale protettivo.",
			"Stabile e protettiva sui sentieri tecnici di montagna. Tomaia in %s e piastra anti-sasso.",
		},
		sizes: shoeSizes(true),
		skip:  18, // the Trail Runner is the eighteenth
	},
	{
		code: "SNK", category: "sneakers", chart: ChartShoes,
		brands: []string{"Ventolina", "Cortese Milano"},
		it:     "Sneakers %s %s", en: "%[2]s %[1]s sneakers",
		models:  named("Piazza", "Portico", "Vicolo", "Cortile", "Loggia", "Terrazzo", "Balcone", "Fontana", "Cupola", "Colonna", "Arco"),
		genders: []gender{men, women},
		colours: []string{"bianco", "nero", "grigio", "blu navy", "beige", "verde", "rosa", "bordeaux"}, maxColour: 3,
		materials: []string{"pelle", "camoscio", "tela di cotone", "pelle e camoscio"},
		euros:     [2]int{70, 160},
		descs: []string{
			"Sneakers dal profilo basso, comode tutto il giorno. Tomaia in %s e suola in gomma cucita.",
			"Un classico da città con la tomaia in %s e il plantare estraibile in sughero.",
		},
		sizes: shoeSizes(false),
	},
	{
		code: "BOT", category: "stivali", chart: ChartShoes,
		brands: []string{"Montecaldo"},
		it:     "Stivaletto %s %s", en: "%[2]s %[1]s ankle boot",
		models:  named("Bosco", "Faggio", "Larice", "Castagno", "Rovere", "Olmo", "Frassino", "Tiglio"),
		genders: []gender{men, women},
		colours: []string{"marrone", "nero", "cuoio", "testa di moro", "sabbia"}, maxColour: 3,
		materials: []string{"pelle", "camoscio", "nabuk"},
		euros:     [2]int{130, 250},
		descs: []string{
			"Stivaletto stringato con suola carrarmato, caldo e robusto per l'inverno. Tomaia in %s lavorata a mano.",
			"Stivaletto chelsea con elastici laterali, facile da calzare. Tomaia in %s e fodera in pelle.",
		},
		sizes: shoeSizes(false),
		skip:  16,
	},
	{
		code: "SAN", category: "sandali", chart: ChartShoes,
		brands: []string{"Lungomare"},
		it:     "Sandalo %s %s", en: "%[2]s %[1]s sandal",
		models:  named("Scogliera", "Caletta", "Faro", "Riva", "Approdo"),
		genders: []gender{men, women},
		colours: []string{"cuoio", "nero", "beige", "bianco", "oro"}, maxColour: 3,
		materials: []string{"pelle", "pelle e sughero"},
		euros:     [2]int{50, 120},
		descs: []string{
			"Sandalo con fascette regolabili e plantare anatomico. Realizzato in %s in Italia.",
			"Sandalo leggero per l'estate, con suola in gomma antiscivolo. Fascette in %s.",
		},
		sizes: shoeSizes(false),
	},
	{
		code: "TSH", category: "magliette", chart: ChartApparel,
		brands: []string{"Cotonificio Alba"},
		it:     "Maglietta %s %s", en: "%[2]s %[1]s T-shirt",
		models:  named("Estate", "Riviera", "Dinamo", "Ancora", "Gabbiano", "Vela", "Onda", "Sole", "Isola", "Corallo"),
		genders: []gender{men, women},
		colours: []string{"bianco", "nero", "grigio", "blu navy", "verde oliva", "rosso", "azzurro", "giallo", "rosa"}, maxColour: 3,
		materials: []string{"cotone", "cotone biologico", "lino", "jersey di cotone"},
		euros:     [2]int{20, 45},
		descs: []string{
			"T-shirt girocollo dalla vestibilità regolare. In %s morbido, lavabile in lavatrice.",
			"Maglietta a maniche corte, leggera e traspirante. In %s.",
		},
		sizes: letterSizes,
	},
	{
		code: "FEL", category: "felpe", chart: ChartApparel,
		brands: []string{"Maglificio Rota"},
		it:     "Felpa %s %s", en: "%[2]s %[1]s",
		models: []model{
			{it: "con cappuccio Nebbia", en: "Nebbia hoodie"}, {it: "girocollo Rugiada", en: "Rugiada crewneck sweatshirt"},
			{it: "con cappuccio Brina", en: "Brina hoodie"}, {it: "con zip Aurora", en: "Aurora zip sweatshirt"},
			{it: "con cappuccio Tramonto", en: "Tramonto hoodie"}, {it: "girocollo Foschia", en: "Foschia crewneck sweatshirt"},
			{it: "con cappuccio Crepuscolo", en: "Crepuscolo hoodie"}, {it: "girocollo Bruma", en: "Bruma crewneck sweatshirt"},
		},
		genders: []gender{men, women},
		colours: []string{"grigio", "nero", "blu navy", "verde oliva", "beige", "bordeaux"}, maxColour: 3,
		materials: []string{"cotone felpato", "cotone garzato", "misto cotone riciclato"},
		euros:     [2]int{45, 90},
		descs: []string{
			"Felpa calda e morbida con polsini a costine. In %s.",
			"Felpa dal taglio comodo, perfetta a strati nelle mezze stagioni. In %s.",
		},
		sizes: letterSizes,
		skip:  16,
	},
	{
		code: "GIA", category: "giacche", chart: ChartApparel,
		brands: []string{"Tessitura Bellini", "Vettore"},
		it:     "Giacca %s %s", en: "%[2]s %[1]s",
		models: []model{
			{it: "antivento Uragano", en: "Uragano windbreaker"}, {it: "imbottita Burrasca", en: "Burrasca padded jacket"},
			{it: "in pile Bufera", en: "Bufera fleece jacket", material: "pile"}, {it: "impermeabile Temporale", en: "Temporale rain jacket"},
			{it: "Monsone", en: "Monsone jacket"}, {it: "imbottita Tifone", en: "Tifone padded jacket"},
		},
		genders: []gender{men, women},
		colours: []string{"nero", "blu navy", "verde oliva", "grigio", "rosso", "giallo"}, maxColour: 3,
		materials: []string{"nylon riciclato", "poliestere", "cotone cerato", "pile"},
		euros:     [2]int{90, 250},
		descs: []string{
			"Giacca con cappuccio regolabile e tasche con zip. In %s, resiste a vento e pioggia leggera.",
			"Giacca leggera da mezza stagione, si ripone nella sua tasca. In %s.",
		},
		sizes: letterSizes,
	},
	{
		code: "CAM", category: "camicie", chart: ChartApparel,
		brands: []string{"Sartoria Ruggeri"},
		it:     "Camicia %s %s", en: "%[2]s %[1]s",
		models: []model{
			{it: "in lino Capri", en: "Capri linen shirt", material: "lino"}, {it: "oxford Amalfi", en: "Amalfi oxford shirt", material: "cotone oxford"},
			{it: "di flanella Ischia", en: "Ischia flannel shirt", material: "flanella di cotone"}, {it: "in denim Procida", en: "Procida denim shirt", material: "denim leggero"},
			{it: "Ponza", en: "Ponza shirt"}, {it: "in lino Elba", en: "Elba linen shirt", material: "lino"},
		},
		genders: []gender{men, women},
		colours: []string{"bianco", "azzurro", "blu navy", "beige", "rosa", "verde"}, maxColour: 3,
		materials: []string{"lino", "cotone oxford", "flanella di cotone", "popeline di cotone"},
		euros:     [2]int{50, 110},
		descs: []string{
			"Camicia dal collo classico con bottoni in madreperla. In %s.",
			"Camicia dalla vestibilità rilassata, da portare anche aperta. In %s.",
		},
		sizes: letterSizes,
	},
	{
		code: "JNS", category: "jeans", chart: ChartWaist,
		brands: []string{"Indaco"},
		it:     "Jeans %s %s", en: "%[2]s %[1]s",
		models: []model{
			{it: "slim Cobalto", en: "Cobalto slim jeans"}, {it: "regular Lapislazzuli", en: "Lapislazzuli regular jeans"},
			{it: "dritti Zaffiro", en: "Zaffiro straight jeans"}, {it: "affusolati Oltremare", en: "Oltremare tapered jeans"},
			{it: "slim Pervinca", en: "Pervinca slim jeans"}, {it: "regular Ardesia", en: "Ardesia regular jeans"},
		},
		genders: []gender{men, women},
		colours: []string{"blu", "blu navy", "nero", "grigio", "azzurro"}, maxColour: 2,
		materials: []string{"denim di cotone", "denim elasticizzato", "denim cimosa"},
		euros:     [2]int{70, 140},
		descs: []string{
			"Jeans a cinque tasche in %s, lavaggio medio.",
			"Jeans in %s dalla vita regolare, con rivetti in rame.",
		},
		sizes: waistSizes,
	},
	{
		code: "BOR", category: "borse", chart: ChartOneSize,
		brands: []string{"Pellami Ferri"},
		it:     "%s %s", en: "%[2]s %[1]s",
		models: []model{
			{it: "Zaino Torino", en: "Torino backpack"}, {it: "Borsa a tracolla Genova", en: "Genova crossbody bag"},
			{it: "Borsa tote Verona", en: "Verona tote bag"}, {it: "Marsupio Trieste", en: "Trieste belt bag"},
			{it: "Zaino Bergamo", en: "Bergamo backpack"}, {it: "Borsa a tracolla Lecce", en: "Lecce crossbody bag", material: "pelle"},
			{it: "Borsa tote Parma", en: "Parma tote bag"}, {it: "Marsupio Udine", en: "Udine belt bag"},
			{it: "Zaino Modena", en: "Modena backpack"}, {it: "Borsa shopper Siena", en: "Siena shopper bag", material: "pelle"},
		},
		genders: []gender{unisex},
		colours: []string{"nero", "cuoio", "marrone", "blu navy", "verde oliva", "beige"}, maxColour: 3,
		materials: []string{"pelle", "tela cerata", "nylon riciclato"},
		euros:     [2]int{40, 220},
		descs: []string{
			"Capiente e leggera, con tasca interna con zip. In %s.",
			"Pratica per tutti i giorni, con tracolla regolabile. In %s.",
		},
		sizes: oneSize,
	},
	{
		code: "ACC", category: "accessori", chart: ChartOneSize,
		brands: []string{"Pellami Ferri", "Maglificio Rota"},
		it:     "%s %s", en: "%[2]s %[1]s",
		models: []model{
			{it: "Cintura in pelle Arezzo", en: "Arezzo leather belt", material: "pelle"},
			{it: "Cintura in pelle Cremona", en: "Cremona leather belt", material: "pelle"},
			{it: "Cintura intrecciata Lucca", en: "Lucca braided belt", material: "pelle intrecciata"},
			{it: "Cintura in pelle Pisa", en: "Pisa leather belt", material: "pelle"},
			{it: "Cintura in tela Rimini", en: "Rimini canvas belt", material: "tela di cotone"},
			{it: "Cintura in camoscio Asti", en: "Asti suede belt", material: "camoscio"},
			{it: "Cintura in pelle Como", en: "Como leather belt", material: "pelle"},
			{it: "Cintura reversibile Lodi", en: "Lodi reversible belt", material: "pelle"},
			{it: "Berretto in lana Cervino", en: "Cervino wool beanie", material: "lana merino"},
			{it: "Berretto in lana Adamello", en: "Adamello wool beanie", material: "lana merino"},
			{it: "Cappellino Stelvio", en: "Stelvio baseball cap", material: "cotone"},
			{it: "Cappellino Gavia", en: "Gavia baseball cap", material: "cotone"},
			{it: "Berretto a coste Tonale", en: "Tonale ribbed beanie", material: "lana merino"},
			{it: "Cappello da pescatore Giau", en: "Giau bucket hat", material: "cotone"},
			{it: "Cappellino Sella", en: "Sella running cap", material: "fibra tecnica"},
			{it: "Berretto in lana Pordoi", en: "Pordoi wool beanie", material: "lana merino"},
			{it: "Sciarpa in lana Langa", en: "Langa wool scarf", material: "lana merino"},
			{it: "Sciarpa in cashmere Roero", en: "Roero cashmere scarf", material: "cashmere"},
			{it: "Sciarpa a quadri Monferrato", en: "Monferrato check scarf", material: "lana"},
			{it: "Sciarpa leggera Collio", en: "Collio light scarf", material: "modal"},
			{it: "Sciarpa in lana Carso", en: "Carso wool scarf", material: "lana"},
			{it: "Scaldacollo Brenta", en: "Brenta neck warmer", material: "pile"},
			{it: "Sciarpa in seta Valdobbiadene", en: "Valdobbiadene silk scarf", material: "seta"},
			{it: "Sciarpa a righe Chianti", en: "Chianti striped scarf", material: "lana"},
		},
		genders: []gender{unisex},
		colours: []string{"nero", "marrone", "cuoio", "grigio", "blu navy", "bordeaux", "beige", "verde oliva", "multicolore"}, maxColour: 3,
		materials: []string{"pelle", "lana merino", "cashmere", "cotone", "seta"},
		euros:     [2]int{25, 120},
		descs: []string{
			"Un accessorio essenziale, curato nei dettagli. In %s.",
			"Prodotto in piccoli laboratori italiani. In %s.",
		},
		sizes: oneSize,
	},
	{
		code: "CAL", category: "calze", chart: ChartSocks,
		brands: []string{"Maglificio Rota", "Corsaro"},
		it:     "%s %s", en: "%[2]s %[1]s",
		models: []model{
			{it: "Calze da running Zefiro", en: "Zefiro running socks", material: "fibra tecnica"},
			{it: "Calze da trail Cresta", en: "Cresta trail socks", material: "lana merino"},
			{it: "Calze in cotone Piazza", en: "Piazza cotton socks", material: "cotone"},
			{it: "Calze in lana Bosco", en: "Bosco wool socks", material: "lana merino"},
			{it: "Calze corte Riva", en: "Riva ankle socks", material: "cotone"},
		},
		genders: []gender{unisex},
		colours: []string{"nero", "bianco", "grigio", "blu navy", "arancione", "multicolore"}, maxColour: 2,
		materials: []string{"cotone", "lana merino", "fibra tecnica"},
		euros:     [2]int{10, 25},
		descs: []string{
			"Calze con rinforzo su punta e tallone. In %s.",
			"Calze traspiranti con fascia elastica sull'arco plantare. In %s.",
		},
		sizes: sockSizes,
	},
}

// Synonyms returns the demo shop's search synonyms: Italian and English
// words shoppers use for the shop's categories.
func Synonyms() []catalog.Synonym {
	return []catalog.Synonym{
		{Term: "scarpe da trail", Alternatives: []string{"trail running"}},
		{Term: "trail running", Alternatives: []string{"scarpe da trail"}},
		{Term: "scarpe da corsa", Alternatives: []string{"running"}},
		{Term: "scarpe da ginnastica", Alternatives: []string{"sneakers"}},
		{Term: "sneaker", Alternatives: []string{"sneakers", "scarpe da ginnastica"}},
		{Term: "hoodie", Alternatives: []string{"felpa"}},
		{Term: "felpa", Alternatives: []string{"hoodie"}},
		{Term: "t-shirt", Alternatives: []string{"maglietta"}},
		{Term: "maglietta", Alternatives: []string{"t-shirt"}},
		{Term: "maglia", Alternatives: []string{"maglietta", "felpa"}},
		{Term: "giubbotto", Alternatives: []string{"giacca"}},
		{Term: "giubbino", Alternatives: []string{"giacca"}},
		{Term: "giacchetto", Alternatives: []string{"giacca"}},
		{Term: "denim", Alternatives: []string{"jeans"}},
		{Term: "stivali", Alternatives: []string{"stivaletto"}},
		{Term: "anfibi", Alternatives: []string{"stivaletto"}},
		{Term: "zainetto", Alternatives: []string{"zaino"}},
		{Term: "cinta", Alternatives: []string{"cintura"}},
		{Term: "cuffia", Alternatives: []string{"berretto"}},
		{Term: "berretto", Alternatives: []string{"beanie"}},
		{Term: "calzini", Alternatives: []string{"calze"}},
	}
}

// SizeCharts returns the demo shop's size charts.
func SizeCharts() []catalog.SizeChart {
	return []catalog.SizeChart{
		{
			// Men's shoe sizes as most sports brands convert them; brands
			// differ by up to half a size.
			Name: ChartShoes, Kind: "shoe", Systems: []string{"eu", "uk", "us"},
			Rows: [][]string{
				{"36", "3.5", "4.5"}, {"36.5", "4", "5"}, {"37", "4.5", "5.5"}, {"37.5", "4.5", "5.5"},
				{"38", "5", "6"}, {"38.5", "5.5", "6.5"}, {"39", "6", "7"}, {"39.5", "6", "7"},
				{"40", "6.5", "7.5"}, {"40.5", "7", "8"}, {"41", "7.5", "8.5"}, {"41.5", "7.5", "8.5"},
				{"42", "8", "9"}, {"42.5", "8.5", "9.5"}, {"43", "9", "10"}, {"43.5", "9", "10"},
				{"44", "9.5", "10.5"}, {"44.5", "10", "11"}, {"45", "10.5", "11.5"}, {"45.5", "10.5", "11.5"},
				{"46", "11", "12"},
			},
		},
		{
			// Letter sizes and Italian men's numeric sizes.
			Name: ChartApparel, Kind: "apparel", Systems: []string{"eu", "it"},
			Rows: [][]string{
				{"XXS", "42"}, {"XS", "44"}, {"S", "46"}, {"M", "48"}, {"L", "50"}, {"XL", "52"}, {"XXL", "54"}, {"3XL", "56"},
			},
		},
		{
			// Waist sizes in W, inches and centimetres (2.54 cm an inch, rounded).
			Name: ChartWaist, Kind: "waist", Systems: []string{"w", "in", "cm"},
			Rows: [][]string{
				{"W28", "28", "71"}, {"W29", "29", "74"}, {"W30", "30", "76"}, {"W31", "31", "79"},
				{"W32", "32", "81"}, {"W33", "33", "84"}, {"W34", "34", "86"}, {"W35", "35", "89"},
				{"W36", "36", "91"}, {"W37", "37", "94"}, {"W38", "38", "97"},
			},
		},
		{
			// Sock sizes and the EU shoe sizes they fit.
			Name: ChartSocks, Kind: "apparel", Systems: []string{"eu", "shoe-eu"},
			Rows: [][]string{{"S", "36-38"}, {"M", "39-42"}, {"L", "43-46"}},
		},
		{
			Name: ChartOneSize, Kind: "one-size", Systems: []string{"it", "en"},
			Rows: [][]string{{"Taglia unica", "One size"}},
		},
	}
}
