"""ISO 3166-1 alpha-2 country codes with GeoNames-style English names (the names ROR uses).

Own-institution CSVs may give a country as a code ("DE") or a name ("Germany", "USA");
:func:`resolve_country` turns either into ``(code, name)``.
"""

from __future__ import annotations

import re
import unicodedata

COUNTRY_NAMES: dict[str, str] = {
    "AD": "Andorra", "AE": "United Arab Emirates", "AF": "Afghanistan", "AG": "Antigua and Barbuda",
    "AI": "Anguilla", "AL": "Albania", "AM": "Armenia", "AO": "Angola", "AQ": "Antarctica",
    "AR": "Argentina", "AS": "American Samoa", "AT": "Austria", "AU": "Australia", "AW": "Aruba",
    "AX": "Åland", "AZ": "Azerbaijan", "BA": "Bosnia and Herzegovina", "BB": "Barbados",
    "BD": "Bangladesh", "BE": "Belgium", "BF": "Burkina Faso", "BG": "Bulgaria", "BH": "Bahrain",
    "BI": "Burundi", "BJ": "Benin", "BL": "Saint Barthélemy", "BM": "Bermuda", "BN": "Brunei",
    "BO": "Bolivia", "BQ": "Bonaire, Sint Eustatius, and Saba", "BR": "Brazil", "BS": "Bahamas",
    "BT": "Bhutan", "BV": "Bouvet Island", "BW": "Botswana", "BY": "Belarus", "BZ": "Belize",
    "CA": "Canada", "CC": "Cocos (Keeling) Islands", "CD": "DR Congo", "CF": "Central African Republic",
    "CG": "Congo Republic", "CH": "Switzerland", "CI": "Ivory Coast", "CK": "Cook Islands",
    "CL": "Chile", "CM": "Cameroon", "CN": "China", "CO": "Colombia", "CR": "Costa Rica",
    "CU": "Cuba", "CV": "Cabo Verde", "CW": "Curaçao", "CX": "Christmas Island", "CY": "Cyprus",
    "CZ": "Czechia", "DE": "Germany", "DJ": "Djibouti", "DK": "Denmark", "DM": "Dominica",
    "DO": "Dominican Republic", "DZ": "Algeria", "EC": "Ecuador", "EE": "Estonia", "EG": "Egypt",
    "EH": "Western Sahara", "ER": "Eritrea", "ES": "Spain", "ET": "Ethiopia", "FI": "Finland",
    "FJ": "Fiji", "FK": "Falkland Islands", "FM": "Micronesia", "FO": "Faroe Islands",
    "FR": "France", "GA": "Gabon", "GB": "United Kingdom", "GD": "Grenada", "GE": "Georgia",
    "GF": "French Guiana", "GG": "Guernsey", "GH": "Ghana", "GI": "Gibraltar", "GL": "Greenland",
    "GM": "The Gambia", "GN": "Guinea", "GP": "Guadeloupe", "GQ": "Equatorial Guinea",
    "GR": "Greece", "GS": "South Georgia and the South Sandwich Islands", "GT": "Guatemala",
    "GU": "Guam", "GW": "Guinea-Bissau", "GY": "Guyana", "HK": "Hong Kong",
    "HM": "Heard Island and McDonald Islands", "HN": "Honduras", "HR": "Croatia", "HT": "Haiti",
    "HU": "Hungary", "ID": "Indonesia", "IE": "Ireland", "IL": "Israel", "IM": "Isle of Man",
    "IN": "India", "IO": "British Indian Ocean Territory", "IQ": "Iraq", "IR": "Iran",
    "IS": "Iceland", "IT": "Italy", "JE": "Jersey", "JM": "Jamaica", "JO": "Jordan", "JP": "Japan",
    "KE": "Kenya", "KG": "Kyrgyzstan", "KH": "Cambodia", "KI": "Kiribati", "KM": "Comoros",
    "KN": "St Kitts and Nevis", "KP": "North Korea", "KR": "South Korea", "KW": "Kuwait",
    "KY": "Cayman Islands", "KZ": "Kazakhstan", "LA": "Laos", "LB": "Lebanon", "LC": "Saint Lucia",
    "LI": "Liechtenstein", "LK": "Sri Lanka", "LR": "Liberia", "LS": "Lesotho", "LT": "Lithuania",
    "LU": "Luxembourg", "LV": "Latvia", "LY": "Libya", "MA": "Morocco", "MC": "Monaco",
    "MD": "Moldova", "ME": "Montenegro", "MF": "Saint Martin", "MG": "Madagascar",
    "MH": "Marshall Islands", "MK": "North Macedonia", "ML": "Mali", "MM": "Myanmar",
    "MN": "Mongolia", "MO": "Macao", "MP": "Northern Mariana Islands", "MQ": "Martinique",
    "MR": "Mauritania", "MS": "Montserrat", "MT": "Malta", "MU": "Mauritius", "MV": "Maldives",
    "MW": "Malawi", "MX": "Mexico", "MY": "Malaysia", "MZ": "Mozambique", "NA": "Namibia",
    "NC": "New Caledonia", "NE": "Niger", "NF": "Norfolk Island", "NG": "Nigeria",
    "NI": "Nicaragua", "NL": "The Netherlands", "NO": "Norway", "NP": "Nepal", "NR": "Nauru",
    "NU": "Niue", "NZ": "New Zealand", "OM": "Oman", "PA": "Panama", "PE": "Peru",
    "PF": "French Polynesia", "PG": "Papua New Guinea", "PH": "Philippines", "PK": "Pakistan",
    "PL": "Poland", "PM": "Saint Pierre and Miquelon", "PN": "Pitcairn Islands",
    "PR": "Puerto Rico", "PS": "Palestine", "PT": "Portugal", "PW": "Palau", "PY": "Paraguay",
    "QA": "Qatar", "RE": "Réunion", "RO": "Romania", "RS": "Serbia", "RU": "Russia",
    "RW": "Rwanda", "SA": "Saudi Arabia", "SB": "Solomon Islands", "SC": "Seychelles",
    "SD": "Sudan", "SE": "Sweden", "SG": "Singapore", "SH": "Saint Helena", "SI": "Slovenia",
    "SJ": "Svalbard and Jan Mayen", "SK": "Slovakia", "SL": "Sierra Leone", "SM": "San Marino",
    "SN": "Senegal", "SO": "Somalia", "SR": "Suriname", "SS": "South Sudan",
    "ST": "São Tomé and Príncipe", "SV": "El Salvador", "SX": "Sint Maarten", "SY": "Syria",
    "SZ": "Eswatini", "TC": "Turks and Caicos Islands", "TD": "Chad",
    "TF": "French Southern Territories", "TG": "Togo", "TH": "Thailand", "TJ": "Tajikistan",
    "TK": "Tokelau", "TL": "Timor-Leste", "TM": "Turkmenistan", "TN": "Tunisia", "TO": "Tonga",
    "TR": "Türkiye", "TT": "Trinidad and Tobago", "TV": "Tuvalu", "TW": "Taiwan",
    "TZ": "Tanzania", "UA": "Ukraine", "UG": "Uganda", "UM": "U.S. Outlying Islands",
    "US": "United States", "UY": "Uruguay", "UZ": "Uzbekistan", "VA": "Vatican City",
    "VC": "St Vincent and Grenadines", "VE": "Venezuela", "VG": "British Virgin Islands",
    "VI": "U.S. Virgin Islands", "VN": "Vietnam", "VU": "Vanuatu", "WF": "Wallis and Futuna",
    "WS": "Samoa", "XK": "Kosovo", "YE": "Yemen", "YT": "Mayotte", "ZA": "South Africa",
    "ZM": "Zambia", "ZW": "Zimbabwe",
}

# Other spellings people write for a country (matched after accent/case folding); also the
# country words the retriever looks for in affiliation strings (text.LocationIndex), beside the
# country names of the registry it searches.
COUNTRY_ALIASES: dict[str, str] = {
    "usa": "US", "u s a": "US", "u s": "US", "united states of america": "US", "america": "US",
    "uk": "GB", "u k": "GB", "great britain": "GB", "britain": "GB", "england": "GB",
    "scotland": "GB", "wales": "GB", "northern ireland": "GB",
    "united kingdom of great britain and northern ireland": "GB",
    "netherlands": "NL", "holland": "NL", "the netherlands": "NL", "turkey": "TR", "turkiye": "TR",
    "deutschland": "DE", "federal republic of germany": "DE", "russian federation": "RU",
    "korea": "KR", "republic of korea": "KR", "korea republic of": "KR", "korea south": "KR",
    "czech republic": "CZ", "viet nam": "VN", "iran islamic republic of": "IR",
    "peoples republic of china": "CN", "people s republic of china": "CN", "pr china": "CN",
    "p r china": "CN", "prc": "CN", "hong kong sar": "HK", "macau": "MO",
    "democratic republic of the congo": "CD", "republic of the congo": "CG",
    "cote d ivoire": "CI", "cape verde": "CV", "swaziland": "SZ", "burma": "MM",
    "macedonia": "MK", "brunei darussalam": "BN", "lao pdr": "LA", "syrian arab republic": "SY",
    "tanzania united republic of": "TZ", "bolivia plurinational state of": "BO",
    "venezuela bolivarian republic of": "VE", "moldova republic of": "MD", "gambia": "GM",
    "bahamas the": "BS", "state of palestine": "PS", "east timor": "TL", "holy see": "VA",
    "espana": "ES", "italia": "IT", "schweiz": "CH", "suisse": "CH", "osterreich": "AT",
    "brasil": "BR", "mexico": "MX", "polska": "PL", "nippon": "JP", "españa": "ES",
    "us": "US", "united states": "US", "united kingdom": "GB", "china": "CN", "mainland china": "CN",
    "germany": "DE", "france": "FR", "spain": "ES", "italy": "IT", "brazil": "BR", "nederland": "NL",
    "svizzera": "CH", "switzerland": "CH", "austria": "AT", "poland": "PL", "sverige": "SE", "norge": "NO",
    "danmark": "DK", "suomi": "FI", "czechia": "CZ", "vietnam": "VN", "south korea": "KR", "russia": "RU",
    "iran": "IR", "islamic republic of iran": "IR", "taiwan": "TW", "roc": "TW", "hong kong": "HK",
    "macao": "MO", "japan": "JP", "india": "IN", "canada": "CA", "australia": "AU", "new zealand": "NZ",
    "belgique": "BE", "belgie": "BE", "belgium": "BE", "egypt": "EG", "saudi arabia": "SA",
    "kingdom of saudi arabia": "SA", "ksa": "SA", "uae": "AE", "united arab emirates": "AE", "ireland": "IE",
    "eire": "IE", "greece": "GR", "hellas": "GR", "portugal": "PT", "argentina": "AR", "chile": "CL",
    "colombia": "CO", "peru": "PE", "south africa": "ZA", "nigeria": "NG", "kenya": "KE", "pakistan": "PK",
    "bangladesh": "BD", "indonesia": "ID", "malaysia": "MY", "singapore": "SG", "thailand": "TH",
    "philippines": "PH", "israel": "IL", "sweden": "SE", "norway": "NO", "denmark": "DK", "finland": "FI",
    "hungary": "HU", "romania": "RO", "ukraine": "UA", "slovakia": "SK", "slovenia": "SI", "croatia": "HR",
    "serbia": "RS", "bulgaria": "BG", "lithuania": "LT", "latvia": "LV", "estonia": "EE", "iceland": "IS",
    "luxembourg": "LU", "cyprus": "CY", "malta": "MT",
}


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


_BY_NAME: dict[str, str] = {_fold(name): code for code, name in COUNTRY_NAMES.items()}
_BY_NAME.update({_fold(alias): code for alias, code in COUNTRY_ALIASES.items()})


def country_name(code: str | None) -> str | None:
    """English (GeoNames) name of an ISO alpha-2 code, None when unknown."""
    return COUNTRY_NAMES.get(code.strip().upper()) if code else None


def resolve_country(value: str | None) -> tuple[str | None, str | None]:
    """``(code, name)`` for a country given as an ISO alpha-2 code or a name.

    Unknown names are kept as the name with no code; blank gives ``(None, None)``.
    """
    if value is None or not value.strip():
        return None, None
    text = value.strip()
    if len(text) == 2 and text.upper() in COUNTRY_NAMES:
        code = text.upper()
        return code, COUNTRY_NAMES[code]
    code = _BY_NAME.get(_fold(text))
    if code:
        return code, COUNTRY_NAMES[code]
    return None, text
