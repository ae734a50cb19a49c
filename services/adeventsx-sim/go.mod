module github.com/martech/eventfwd/services/adeventsx-sim

go 1.26.8

require github.com/martech/eventfwd/libs v0.0.0

require github.com/prometheus/client_golang v1.23.2 // indirect

replace github.com/martech/eventfwd/libs => ../../libs
