package main

// benchFirstNames are the first names the process tests give their
// contacts: some empty, some with accents, one in lower case.
var benchFirstNames = [...]string{"anna", "Bram", "Carla", "Dmitri", "Eva", "", "Farah", "Gustav", "Hana", "Ivo", "Jamal", "Kerstin", "Luis", "Mei", "Noor", "Olu", "Pia", "Quentin", "Rosa", "Sven", "Tomás", "Ute", "Vera", "Wim", "Xu", "Yara", "Zoë"}
