package dezhou

// Names of the sample district. Arterials carry real Dezhou road names; the
// local streets draw from common Chinese street-name stems, numbered (二路,
// 三路, ...) when a large district runs out of stems.

type zhName struct{ zh, py string }

var arterialNS = []zhName{
	{"湖滨大道", "Hubin Dadao"}, {"德兴大道", "Dexing Dadao"}, {"解放大道", "Jiefang Dadao"},
	{"新河大道", "Xinhe Dadao"}, {"晶华大道", "Jinghua Dadao"}, {"崇德大道", "Chongde Dadao"},
	{"岔河大道", "Chahe Dadao"}, {"尚德大道", "Shangde Dadao"}, {"广川大道", "Guangchuan Dadao"},
	{"长河大道", "Changhe Dadao"}, {"康博大道", "Kangbo Dadao"}, {"齐河大道", "Qihe Dadao"},
}

var arterialEW = []zhName{
	{"东风大街", "Dongfeng Dajie"}, {"新湖大街", "Xinhu Dajie"}, {"天衢大街", "Tianqu Dajie"},
	{"三八大街", "Sanba Dajie"}, {"东方红大街", "Dongfanghong Dajie"}, {"大学大街", "Daxue Dajie"},
	{"迎宾大街", "Yingbin Dajie"}, {"德州大街", "Dezhou Dajie"}, {"董子大街", "Dongzi Dajie"},
	{"减河大街", "Jianhe Dajie"}, {"运河大街", "Yunhe Dajie"}, {"商河大街", "Shanghe Dajie"},
}

var streetStems = []zhName{
	{"和平", "Heping"}, {"建设", "Jianshe"}, {"文化", "Wenhua"}, {"光明", "Guangming"},
	{"青年", "Qingnian"}, {"胜利", "Shengli"}, {"朝阳", "Chaoyang"}, {"红星", "Hongxing"},
	{"育才", "Yucai"}, {"民主", "Minzhu"}, {"兴华", "Xinghua"}, {"幸福", "Xingfu"},
	{"双拥", "Shuangyong"}, {"顺河", "Shunhe"}, {"北园", "Beiyuan"}, {"南园", "Nanyuan"},
	{"东园", "Dongyuan"}, {"西园", "Xiyuan"}, {"锦绣", "Jinxiu"}, {"华宇", "Huayu"},
	{"泰山", "Taishan"}, {"黄河", "Huanghe"}, {"长江", "Changjiang"}, {"明珠", "Mingzhu"},
	{"丰泽", "Fengze"}, {"福民", "Fumin"}, {"益民", "Yimin"}, {"惠民", "Huimin"},
	{"利民", "Limin"}, {"新华", "Xinhua"}, {"前进", "Qianjin"}, {"商业", "Shangye"},
	{"工业", "Gongye"}, {"科技", "Keji"}, {"创业", "Chuangye"}, {"金融", "Jinrong"},
	{"安居", "Anju"}, {"康宁", "Kangning"}, {"振华", "Zhenhua"}, {"迎春", "Yingchun"},
	{"文昌", "Wenchang"}, {"鲁班", "Luban"}, {"苏禄", "Sulu"}, {"桥口", "Qiaokou"},
}

var ordinals = []zhName{{"", ""}, {"二", "Er"}, {"三", "San"}, {"四", "Si"}, {"五", "Wu"}, {"六", "Liu"}, {"七", "Qi"}, {"八", "Ba"}, {"九", "Jiu"}, {"十", "Shi"}}

// streetName names the i-th street of a direction.
func streetName(ns, arterial bool, i int) zhName {
	if arterial {
		list := arterialEW
		if ns {
			list = arterialNS
		}
		n := list[i%len(list)]
		if k := i / len(list); k > 0 {
			return zhName{n.zh[:len(n.zh)-len("大道")] + ordinals[k%len(ordinals)].zh + n.zh[len(n.zh)-len("大道"):], n.py + " " + ordinals[k%len(ordinals)].py}
		}
		return n
	}
	stem := streetStems[i%len(streetStems)]
	ord := ordinals[(i/len(streetStems))%len(ordinals)]
	suffix, suffixPy := "街", "Jie"
	if ns {
		suffix, suffixPy = "路", "Lu"
	}
	if ord.zh != "" {
		return zhName{stem.zh + ord.zh + suffix, stem.py + " " + ord.py + " " + suffixPy}
	}
	return zhName{stem.zh + suffix, stem.py + " " + suffixPy}
}

var compoundStems = []string{"天衢", "湖滨", "新湖", "运河", "德兴", "长河", "崇德", "尚德", "董子", "岔河", "减河", "晶华", "锦绣", "阳光", "幸福", "康城", "御景", "金色", "明珠", "水岸"}
var compoundSuffixes = []string{"花园", "小区", "家园", "华府", "名苑", "新城", "雅居", "嘉园", "公馆", "府邸"}

var schoolNames = []string{"德州市第一中学", "德州市第二中学", "德州市第三中学", "德州市实验中学", "德州市跃华学校", "德州市第九中学", "德城区实验小学", "德州市新湖小学", "天衢小学", "湖滨中学", "运河小学", "德州学院附属中学", "德州市第五中学", "德州市明诚中学"}
var hospitalNames = []string{"德州市人民医院", "德州市中医院", "德州市第二人民医院", "德州市妇幼保健院", "德城区人民医院", "德州联合医院", "德州市第三人民医院"}
var parkNames = []string{"董子园", "长河公园", "新湖风景区", "减河湿地公园", "运河文化公园", "天衢公园", "苏禄王墓公园", "岔河公园"}
var commercialNames = []string{"万达广场", "百货大楼", "天衢商厦", "德百购物中心", "恒隆广场", "贵和商厦", "金融大厦", "新湖商城", "运河商业中心", "德州国际会展中心", "德州市政务服务中心", "德州市人民政府", "德州站"}

// projectNames are the major projects under supervision ("重大项目云监管").
var projectNames = []struct{ name, typ, owner string }{
	{"德州高铁新区综合体", "commercial", "德州城投集团"},
	{"运河文化带提升工程", "culture", "德州市文旅局"},
	{"减河湿地公园二期", "ecology", "德州市园林局"},
	{"德州数字经济产业园", "industrial", "德州经开区管委会"},
	{"天衢新区安置房一期", "housing", "德城区住建局"},
	{"天衢新区安置房二期", "housing", "德城区住建局"},
	{"德州市人民医院新院区", "healthcare", "德州市卫健委"},
	{"德州学院新校区图书馆", "education", "德州学院"},
	{"新湖大街综合管廊二期", "infrastructure", "德州市住建局"},
	{"东风路快速化改造", "transport", "德州市交通局"},
	{"德州东站站前广场", "transport", "德州城投集团"},
	{"岔河水系连通工程", "water", "德州市水利局"},
	{"第三水厂扩建工程", "water", "德州水务集团"},
	{"城市污水处理厂提标改造", "water", "德州水务集团"},
	{"老城区雨污分流改造", "infrastructure", "德城区住建局"},
	{"智慧灯杆示范路段", "smart_city", "德州市大数据局"},
	{"城市大脑指挥中心", "smart_city", "德州市大数据局"},
	{"新能源汽车零部件产业园", "industrial", "德州经开区管委会"},
	{"生物医药产业园", "industrial", "德州经开区管委会"},
	{"体育中心改造工程", "culture", "德州市体育局"},
	{"德州市图书馆新馆", "culture", "德州市文旅局"},
	{"董子文化街二期", "culture", "德城区文旅局"},
	{"苏禄文化园", "culture", "德城区文旅局"},
	{"北部热源厂扩建", "energy", "德州热力公司"},
	{"城市供热管网改造", "energy", "德州热力公司"},
	{"燃气管网更新工程", "energy", "德州新奥燃气"},
	{"光伏建筑一体化示范", "energy", "德州经开区管委会"},
	{"保障性租赁住房项目", "housing", "德州城投集团"},
	{"城中村改造湖滨片区", "housing", "德城区住建局"},
	{"运河新城商务区", "commercial", "运河经开区管委会"},
	{"德州国际物流园", "logistics", "德州城投集团"},
	{"冷链物流中心", "logistics", "德州城投集团"},
	{"第二实验小学新建工程", "education", "德州市教育局"},
	{"职业教育园区", "education", "德州市教育局"},
	{"德州市疾控中心新址", "healthcare", "德州市卫健委"},
	{"长河公园提升工程", "ecology", "德州市园林局"},
	{"城市绿道串联工程", "ecology", "德州市园林局"},
	{"停车场智慧化改造", "smart_city", "德州市城管局"},
	{"晶华大道跨线桥", "transport", "德州市交通局"},
	{"老旧小区改造提升", "housing", "德城区住建局"},
	{"跨境电商产业园", "industrial", "德州经开区管委会"},
	{"应急物资储备库", "public", "德州市应急管理局"},
}

// districtsOf are the three administrative areas of the sample.
var districtNames = []struct{ zh, en, code string }{
	{"德城区", "Decheng District", "371402"},
	{"德州经济技术开发区", "Dezhou Economic and Technological Development Zone", "371471"},
	{"运河经济开发区", "Yunhe Economic Development Zone", "371472"},
}
