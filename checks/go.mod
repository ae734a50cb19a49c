module github.com/martech/eventfwd/checks

go 1.26.8
