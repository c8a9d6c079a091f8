module promkeys

go 1.26
