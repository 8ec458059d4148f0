"""Free-mail providers: anyone can have an address there, so a participant's
address on one of these domains says nothing about their company. Account
matching never matches by these domains (an exact email may still match a CRM
contact). Entries are registrable domains, lower-case, as
``crm.matching.registrable_domain`` returns them.

This is data, not logic: add a provider here when a customer reports a
mismatch through one.
"""

FREEMAIL_DOMAINS: frozenset[str] = frozenset({
    # Google
    "gmail.com", "googlemail.com",
    # Yahoo and its brands
    "yahoo.com", "yahoo.co.uk", "yahoo.co.in", "yahoo.co.jp", "yahoo.com.au", "yahoo.com.br",
    "yahoo.ca", "yahoo.de", "yahoo.es", "yahoo.fr", "yahoo.it", "ymail.com", "rocketmail.com",
    # Microsoft
    "outlook.com", "outlook.fr", "outlook.de", "hotmail.com", "hotmail.co.uk", "hotmail.de",
    "hotmail.es", "hotmail.fr", "hotmail.it", "live.com", "live.co.uk", "live.fr", "msn.com",
    # Apple
    "icloud.com", "me.com", "mac.com",
    # AOL / Verizon Media
    "aol.com", "aim.com", "verizon.net",
    # Privacy-focused
    "proton.me", "protonmail.com", "protonmail.ch", "pm.me", "tutanota.com", "tutanota.de", "tuta.io",
    "fastmail.com", "fastmail.fm", "hey.com", "hushmail.com",
    # GMX / United Internet
    "gmx.com", "gmx.net", "gmx.de", "gmx.at", "gmx.ch", "web.de", "mail.com", "email.com",
    # Other large providers
    "zoho.com", "zohomail.com", "yandex.com", "yandex.ru", "ya.ru", "mail.ru", "rambler.ru",
    "inbox.ru", "list.ru", "bk.ru", "qq.com", "163.com", "126.com", "yeah.net", "sina.com",
    "naver.com", "daum.net", "hanmail.net", "rediffmail.com", "seznam.cz", "wp.pl", "o2.pl",
    "interia.pl", "libero.it", "virgilio.it", "orange.fr", "wanadoo.fr", "free.fr", "laposte.net",
    "sfr.fr", "t-online.de", "freenet.de", "btinternet.com", "sky.com", "talktalk.net",
    "comcast.net", "att.net", "sbcglobal.net", "bellsouth.net", "cox.net", "charter.net",
    "earthlink.net", "optonline.net", "shaw.ca", "rogers.com", "bigpond.com", "optusnet.com.au",
    "inbox.com", "gmx.us", "mailinator.com",
})
