"""Telling which language a text in Latin letters is in, by its common words and accented letters: no model.

Read by the tools where a prompt should name the text's language (summarize), where a reply must be in
the one asked for (translate, :func:`~assistant.tools.languages.answered_in`), and where a language's
own common words are no names (ner, :func:`~assistant.tools.spans.common_words`). Apart from
:mod:`assistant.tools.languages`, which names languages and knows their scripts, since it needs none of that.
"""

from __future__ import annotations

import re
import unicodedata

FUNCTION_WORDS = {
    "English": "the and is are was were of to in that it you with for this have has be not no on my me "
    "your we they he she what from at by will would can do does there their our an but or "
    "if very thank a as i am so all",
    "French": "le la les de des du un une et est sont je tu il elle nous vous ils elles que qui pour "
    "pas dans sur avec ce cette ces mon ma mes me se au aux très merci bonjour suis ne non "
    "en à ou mais leur c j qu l d son sa ses notre votre nos vos leurs où oui comment "
    "pourquoi quand aussi toujours jamais aujourd hui demain hier maintenant ici bien tout "
    "tous toute toutes rien beaucoup ai avons avez ont été était être avoir fait peut faut "
    "y voici voilà chez sans sous depuis pendant donc alors puis encore déjà ça cela ceci "
    "lui eux moi toi bonsoir salut revoir entre par te si a ensuite enfin abord parfois "
    "souvent cependant pourtant soudain hélas désormais autrefois après avant",
    "Spanish": "el la los las un una y es son está estoy que de en por para con no muy yo tú usted mi "
    "mis su sus pero del al lo se hola gracias hoy me ayer mañana ahora después antes luego "
    "entonces siempre nunca también tampoco aquí allí ahí sí como cómo qué quién dónde "
    "cuándo cuál porque este esta estos estas ese esa eso esto todo todos toda todas nada "
    "algo mucho muchos mucha muchas poco bien días noches tardes adiós hasta desde sobre "
    "entre nosotros ellos ella ellas les te nos fue tengo tiene tienen hace cuando donde "
    "quiero le si o a anoche anteayer nadie pasado todavía quizás quizá además tarde "
    "temprano ojalá durante",
    "Italian": "il lo la gli le un una e è sono che di da per con non molto io tu lui lei noi voi mio "
    "mia ma del della al in se qui grazie ciao l d oggi ieri domani adesso ora poi sempre "
    "anche ancora qua lì là sì perché quando cosa questo questa questi quello quella tutto "
    "tutti tutta niente bene buongiorno buonasera arrivederci ho hai abbiamo avete hanno "
    "stato stata essere avere mi ti ci nel nella sul sulla alla dei delle degli si o a "
    "allora stasera stamattina dopo prima spesso forse purtroppo inoltre comunque però "
    "invece infatti finalmente durante",
    "Portuguese": "o os as um uma e é são está que de em para com não no muito eu você nós meu minha mas "
    "do da dos das na se obrigado obrigada olá hoje ontem amanhã agora depois antes sempre "
    "nunca também aqui ali sim como porque quando onde quem isso isto este esta esse essa "
    "aquele tudo todos nada bem dia noite tchau adeus estou estamos tem têm tenho foi ser "
    "estar vocês ele ela eles elas pelo pela num numa ao até por sobre entre desde todo "
    "toda todas te me nos a mais então ainda talvez infelizmente porém contudo entretanto "
    "já mesmo assim tarde durante",
    "German": "der die das den dem ein eine und ist sind ich du er sie wir ihr nicht mit für auf zu "
    "von bin sehr danke dank vielen es wie was auch an in heute gestern morgen jetzt dann "
    "immer nie noch schon hier dort ja nein warum wann wo wer dieser diese dieses alles "
    "alle nichts viel guten nacht hallo bitte haben habe wird werden kann muss mein meine "
    "dein sein seine uns euch im zum zur vom beim aus bei nach über unter oder aber dich "
    "dir mich mir des als danach vielleicht leider damals gleich sofort zuerst endlich "
    "trotzdem deshalb außerdem manchmal wieder übermorgen vorgestern",
    "Dutch": "de het een en is zijn ik jij je hij zij wij er niet met voor op van dat dit ook heel "
    "dank bedankt in vandaag gisteren morgen nu altijd nooit nog hier daar ja nee hoe "
    "waarom wanneer waar wie wat deze alles niets veel goed goede dag nacht hallo "
    "alsjeblieft graag heb hebben heeft kan moet mijn jouw ons onze jullie haar naar uit "
    "bij onder maar om te tot was alle ben bent zal geen hem ze zo als aan wel toch daarna "
    "toen misschien vanavond vanmorgen vanochtend straks eerst eindelijk helaas soms vaak "
    "weer",
}
"""Common words of the languages whose texts in Latin letters :func:`written_in` tells apart: function
words, a word a text in that language can hardly do without, and the everyday adverbs, greetings and
time words a short text is made of ("Hasta mañana.", "Hoy hace buen tiempo."), none of them an English
word ("hay", "come", "hat", "war" and "over" are left out: an English text is no Spanish, Italian, German or
Dutch one for them). A word of several languages counts for each of them in part ("la": French,
Spanish, Italian), so only the words of one language decide. The NER tool reads them as words that are
no name at a sentence's start (:func:`~assistant.tools.spans.common_words`: "Ayer", "Mañana", "Heute"), and one
that begins a name loses it there, so a word that begins many names is none of them: "Buenos" (Buenos Aires),
"Buona", "Bom" and "Dos" (Dos Hermanas) are left out."""

_FUNCTION_SETS = {language: frozenset(words.split()) for language, words in FUNCTION_WORDS.items()}
_SHARES: dict[str, int] = {}
for _words_of in _FUNCTION_SETS.values():
    for _word in _words_of:
        _SHARES[_word] = _SHARES.get(_word, 0) + 1

SURE_SCORE = 2.0
"""Least weight of function words (:data:`FUNCTION_WORDS`) that makes a text's language sure, if it is at
least twice the next language's: "Je m'aime." tells nothing, "Me encanta la pizza, es muy buena." Spanish."""

_TEXT_WORD = re.compile(r"[^\W\d_]+")


def _script(char: str) -> str:
    return unicodedata.name(char, "").split(" ", 1)[0]


def _text_words(text: str) -> list[str]:
    """Lower-case words, split at apostrophes ("c'est": "c", "est"; "l'avis": "l", "avis") and where the script
    changes: Japanese writes "iPhoneを" without a space, and "iphone" is the input's word, "を" the reply's."""
    words = []
    for match in _TEXT_WORD.finditer(text.lower()):
        word = match.group()
        start = 0
        for index in range(1, len(word)):
            if _script(word[index]) != _script(word[index - 1]):
                words.append(word[start:index])
                start = index
        words.append(word[start:])
    return words


MARKED_LETTERS = {
    "ñ": "Spanish", "ß": "German", "ä": "German", "ö": "German", "ü": "German", "ã": "Portuguese",
    "õ": "Portuguese", "œ": "French", "î": "French", "û": "French", "ì": "Italian", "ò": "Italian",
    "ç": "French Portuguese", "ê": "French Portuguese", "â": "French Portuguese", "ô": "French Portuguese",
    "ë": "French Dutch", "ï": "French Dutch", "è": "French Italian", "ù": "French Italian",
    "á": "Spanish Portuguese", "í": "Spanish Portuguese", "ó": "Spanish Portuguese", "ú": "Spanish Portuguese",
    "à": "French Italian Portuguese",
}
"""The languages of :data:`FUNCTION_WORDS` that write each accented letter in everyday words ("ñ": Spanish;
"ç": French and Portuguese). A word that is none of their common words says its language by these:
"schön", "estação", "cumpleaños" — what tells a short reply apart, where common words are few."""


def language_scores(words: list[str]) -> dict[str, float]:
    """How much ``words`` (:func:`_text_words`) say each language of :data:`FUNCTION_WORDS`: one for each of its
    common words, and for each other word with its accented letters (:data:`MARKED_LETTERS`), shared evenly
    among the languages that word could be of ("la": French, Spanish, Italian; "estação": Portuguese).

    The one weighing of a text's words: :func:`written_in` decides by it, and :func:`~assistant.tools.languages.answered_in` too."""
    scores = dict.fromkeys(_FUNCTION_SETS, 0.0)
    for word in words:
        shares = _SHARES.get(word)
        if shares:
            for language, members in _FUNCTION_SETS.items():
                if word in members:
                    scores[language] += 1 / shares
            continue
        marked = [set(MARKED_LETTERS[char].split()) for char in set(word) if char in MARKED_LETTERS]
        if marked:
            languages = set.intersection(*marked) or set.union(*marked)
            for language in languages:
                scores[language] += 1 / len(languages)
    return scores


def _surest(scores: dict[str, float], least: float = SURE_SCORE) -> str | None:
    """The language of ``scores`` (:func:`language_scores`) with at least ``least`` and twice the next one's, else None."""
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    return best if top >= least and top >= 2 * second else None


def written_in(words: list[str]) -> str | None:
    """The language of :data:`FUNCTION_WORDS` that ``words`` (:func:`_text_words`) are surely in, else None."""
    return _surest(language_scores(words))


INSTEAD_SCORE = 1.0
"""Least score (:func:`language_scores`) that makes a reply without one word of its target language surely in
another: "Hola mundial." (SmolLM2's French for "Hello world.") holds one Spanish word and no French one. A
whole text needs :data:`SURE_SCORE`, since nothing says which language to expect; a reply is expected in its
target, and a short one has no room for two words of another language. On 47 short sentences written for
this, each in French, German, Spanish, Italian, Portuguese, Dutch and English, none was refused for its own
language, and 958 of 1,692 replies in another language were, against 167 before (docs/tools.md)."""


LANGUAGE_SAMPLE = 20_000
"""Characters of a text read to tell its language (:func:`text_language`): a 30 MB file's words took seconds."""


def text_language(text: str) -> str | None:
    """The language of :data:`FUNCTION_WORDS` that ``text`` is surely written in (its first
    :data:`LANGUAGE_SAMPLE` characters), else None: cheap, no model, for a prompt that should name it."""
    return written_in(_text_words(text[:LANGUAGE_SAMPLE]))
