module github.com/heraldlb/herald/testbed

go 1.26.0

replace github.com/heraldlb/herald => ../

require github.com/osrg/gobgp/v3 v3.30.0 // indirect
