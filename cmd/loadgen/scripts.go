package main

// script is one shopper's side of a conversation about the demo catalog,
// in one language; the lines follow each other, so follow-ups ("e nel
// 43?", "the second one") have their context. A conversation longer than
// the script starts it again from the top.
type script struct {
	locale string
	lines  []string
}

// scripts are the conversations the simulated shoppers hold, in Italian
// and English: stock questions, follow-ups, typos, sizes in words and in
// other systems, ambiguous names, prices and cards. TestScriptsUnderstood
// checks that the engine understands every line in its place.
var scripts = []script{
	{"it", []string{
		"avete le trail runner nel 42 rosse?",
		"e nel 43?",
		"e nel 44?",
		"e la nera?",
		"quanto costa?",
		"fammi vedere la foto",
		"avete le trial runer nel 44 rosse?",
		"grazie mille",
	}},
	{"en", []string{
		"do you have the trail runner in 44, black?",
		"and in red?",
		"what about 42 in red?",
		"how much is it?",
		"any trial runners in size 43 or 44, red?",
		"trail runner size forty one",
		"show me the trail runner",
		"thanks!",
	}},
	{"it", []string{
		"felpa nebbia taglia M",
		"quella da uomo",
		"e la elle?",
		"quanto costa?",
		"felpa nebbia donna taglia S",
		"e da uomo?",
		"maglietta sole uomo taglia emme",
		"grazie",
	}},
	{"en", []string{
		"men's sole t-shirt size medium",
		"small or large?",
		"nebbia hoodie",
		"the last one",
		"size L",
		"how much is it?",
		"do you have the trail runner in UK 8?",
		"and us 10?",
	}},
	{"it", []string{
		"avete le sella nel 42?",
		"3",
		"e nel 43?",
		"quanto costa?",
		"jeans cobalto uomo vita 32",
		"W34?",
		"calze zefiro nel 42",
		"trail runner rosse 42 o 43",
	}},
	{"en", []string{
		"do you have the zefiro running shoe for women in 38?",
		"and 39?",
		"sella",
		"the second one",
		"size 42",
		"I need 8 pairs of trail runner in 41 red",
		"do you have the trail runner in size 9 in black?",
		"thanks",
	}},
	{"it", []string{
		"avete un giubbotto antivento uragano da uomo?",
		"taglia L",
		"quanto costa?",
		"marsupio trieste",
		"quanto costa?",
		"calzini cresta",
		"avete le trail runner nel 42 e mezzo?",
		"allora quarantatré rossa",
	}},
}
