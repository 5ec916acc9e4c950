package shellenv

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// nastyValues are values that break naive quoting in at least one of the
// formats. They seed every fuzz target too.
var nastyValues = []string{
	"",
	"simple",
	"AKIAIOSFODNN7EXAMPLE",
	"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	"IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+abc=",
	"it's",
	"'",
	"''",
	"'''",
	"'a'",
	`\`,
	`\\`,
	`\'`,
	`a\`,
	`\n`,
	`\x41`,
	`"`,
	`""`,
	`"quoted"`,
	`a\"b`,
	`end"`,
	"$HOME",
	"${HOME}",
	"$(id)",
	"$((1+1))",
	"`id`",
	"``",
	"$",
	"a$",
	"\n",
	"a\nb",
	"trailing\n\n",
	"\nleading",
	"\r",
	"a\r\nb",
	"cr at end\r",
	"\t",
	"a\tb",
	"  leading and trailing  ",
	"-n",
	"-e",
	"--",
	"-x -e",
	"%s%d%%",
	"%0A%0D%25",
	"!",
	"!!",
	"!$",
	"#comment",
	"a #b",
	"~",
	"~root",
	"*",
	"?",
	"[a]",
	"{a,b}",
	";",
	"&&",
	"|",
	">x",
	"<x",
	"a=b",
	"::add-mask::x",
	"ghadelimiter_",
	"EOF",
	"päßwörd",
	"日本語",
	"🔑",
	"\u2018\u2019\u201a\u201b",
	"it\u2019s",
	"\u201c\u201d\u201e",
	"\u00a0nbsp",
	"\ufeffbom",
	"\u0085nel",
	"\u2028ls",
	"\x7f",
	"\x01\x7f\x01\x01\x7f\x7f", // bash's internal CTLESC and CTLNUL
	"\x83\x84\x9b\xa0\x83",     // zsh's internal Meta byte and friends
	"a\\\nb",                   // backslash-newline: a line continuation outside quotes
	"\x01\x02\x1b[31mred",
	"\x1b]0;title\x07",
	"\ufdd0\ufdd7\uffff",
	"\uf600\uf6ff",
	// Invalid UTF-8: bash, zsh, fish and dotenv must carry these exactly.
	"\xff\xfe",
	"\xc3",
	"a\xc3(b",
	"\xed\xa0\x80",
	"\xc0\x80",
	"\xf4\x90\x80\x80",
	"'\xff'\\\xfe\\",
}

// allBytes holds every byte but NUL once, in order.
func allBytes() string {
	b := make([]byte, 0, 255)
	for c := 1; c < 256; c++ {
		b = append(b, byte(c))
	}
	return string(b)
}

func reversed(s string) string {
	b := []byte(s)
	slices.Reverse(b)
	return string(b)
}

// nastyVars turns nastyValues into uniquely named variables, plus one long
// value built from the worst characters.
func nastyVars() []Var {
	vars := make([]Var, 0, len(nastyValues)+1)
	for i, v := range nastyValues {
		vars = append(vars, Var{Name: fmt.Sprintf("V%02d", i), Value: v, Secret: i%2 == 0})
	}
	vars = append(vars, Var{Name: "ALL_BYTES", Value: allBytes()}, Var{Name: "ALL_BYTES_REVERSED", Value: reversed(allBytes())})
	vars = append(vars, Var{Name: "LONG", Value: strings.Repeat("ab'\\\"$`\n\r\t\u2019", 3000), Secret: true})
	// fish splits a variable whose name ends in PATH at ":" and joins it
	// again when quoted or exported; the value must survive that.
	vars = append(vars, Var{Name: "JIT_TEST_PATH", Value: ":a::b:"})
	return vars
}

// validUTF8 keeps the variables whose values are valid UTF-8, which every
// format can carry.
func validUTF8(vars []Var) []Var {
	var out []Var
	for _, v := range vars {
		if utf8.ValidString(v.Value) {
			out = append(out, v)
		}
	}
	return out
}
