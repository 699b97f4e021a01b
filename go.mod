module github.com/heraldlb/herald

go 1.26.0
