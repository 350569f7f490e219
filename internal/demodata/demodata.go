// Package demodata is the sample shop that `herald demo` fills a database
// with and the benchmarks generate their contacts from: names in their own
// scripts by country, sign-up sources, family statuses and product
// categories.
package demodata

// People are first and last names by country, in their own scripts.
var People = []struct {
	Country, Lang, TZ string
	Cities            []string
	First, Last       []string
}{
	{"NL", "nl", "Europe/Amsterdam", []string{"Amsterdam", "Utrecht", "Rotterdam", "Groningen"},
		[]string{"Sanne", "Daan", "Femke", "Joris", "Lotte", "Bram", "Noor", "Thijs"}, []string{"de Vries", "Jansen", "van Dijk", "Bakker", "Visser", "Smit"}},
	{"IL", "he", "Asia/Jerusalem", []string{"תל אביב", "חיפה", "ירושלים"},
		[]string{"נועה", "יונתן", "מאיה", "איתי", "תמר", "עומר"}, []string{"כהן", "לוי", "מזרחי", "פרץ", "ביטון"}},
	{"EG", "ar", "Africa/Cairo", []string{"القاهرة", "الإسكندرية"},
		[]string{"مريم", "أحمد", "ليلى", "يوسف", "سارة", "عمر"}, []string{"حسن", "محمود", "إبراهيم", "علي"}},
	{"IR", "fa", "Asia/Tehran", []string{"تهران", "اصفهان", "شیراز"},
		[]string{"مریم", "علی", "زهرا", "رضا", "نگار", "امیر"}, []string{"محمدی", "حسینی", "رضایی", "کریمی"}},
	{"JP", "ja", "Asia/Tokyo", []string{"東京", "大阪", "京都"},
		[]string{"さくら", "健太", "由美", "翔太", "愛子"}, []string{"佐藤", "鈴木", "高橋", "田中"}},
	{"US", "en", "America/New_York", []string{"New York", "Boston", "Chicago", "Austin", "Portland"},
		[]string{"Emma", "Liam", "Olivia", "Noah", "Ava", "James", "Mia"}, []string{"Smith", "Johnson", "Brown", "Garcia", "Miller"}},
	{"DE", "de", "Europe/Berlin", []string{"Berlin", "München", "Köln"},
		[]string{"Jürgen", "Anna", "Lukas", "Lea", "Jonas", "Sophie"}, []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weiß"}},
	{"GR", "el", "Europe/Athens", []string{"Αθήνα", "Θεσσαλονίκη"},
		[]string{"Μαρία", "Γιώργος", "Ελένη", "Νίκος"}, []string{"Παπαδόπουλος", "Οικονόμου", "Γεωργίου"}},
	{"IN", "hi", "Asia/Kolkata", []string{"मुंबई", "दिल्ली", "Bengaluru"},
		[]string{"आरव", "अनन्या", "Priya", "Rahul", "दिया"}, []string{"शर्मा", "Patel", "वर्मा", "Iyer"}},
	{"BR", "pt-BR", "America/Sao_Paulo", []string{"São Paulo", "Rio de Janeiro", "Curitiba"},
		[]string{"João", "Ana", "Lucas", "Beatriz", "Gabriel"}, []string{"Silva", "Santos", "Oliveira", "Souza"}},
	{"PL", "pl", "Europe/Warsaw", []string{"Kraków", "Warszawa", "Łódź"},
		[]string{"Zofia", "Jakub", "Małgorzata", "Paweł"}, []string{"Kowalski", "Wiśniewska", "Wójcik"}},
	{"KR", "ko", "Asia/Seoul", []string{"서울", "부산"},
		[]string{"지우", "민준", "서연", "도윤"}, []string{"김", "이", "박", "최"}},
}

// Sources, Family and Categories are where contacts signed up, their
// family statuses (repeated by how common they are) and the shop's
// product categories.
var (
	Sources    = []string{"website", "website", "instagram", "store", "referral", "facebook_ad", "newsletter_form"}
	Family     = []string{"single", "married", "married", "parent", "parent", "partnered", ""}
	Categories = []string{"watercolor", "oil", "acrylic", "brushes", "canvas", "sketchbooks"}
)
