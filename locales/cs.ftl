# Zprávy lifelapse, čeština.

## Příjem fotek
photo-empty = Soubor je prázdný.
photo-too-large = Soubor má { $size-mb } MB; přijímám soubory do { $limit-mb } MB.
photo-too-many-pixels = Obrázek má { $width }×{ $height } ({ $megapixels } MP); přijímám obrázky do { $limit-mp } MP.
photo-unknown-format = Tohle není fotka, kterou umím přečíst. Pošlete JPEG, PNG, WebP, HEIC, TIFF, BMP nebo GIF.
photo-truncated = Fotka je useknutá (soubor končí příliš brzy). Pošlete ji prosím znovu.
photo-corrupt = Fotka je poškozená a nejde přečíst.
photo-heif = Tuto fotku HEIC tu nejde přečíst. Jako JPEG to půjde.
photo-not-found = Takový soubor ani složka neexistuje.
photo-permission-denied = Tento soubor nemám povoleno číst.
photo-symlink-loop = Tohle je smyčka odkazů, která nikdy nevede k souboru.
photo-not-regular = { $kind ->
        [pipe] Tohle je roura, ne soubor; čtu jen soubory.
        [socket] Tohle je socket, ne soubor; čtu jen soubory.
        [device] Tohle je zařízení, ne soubor; čtu jen soubory.
        [folder] Tohle je složka, ne soubor.
       *[other] Tohle není soubor; čtu jen soubory.
    }
photo-empty-folder = V této složce není žádná fotka, kterou umím přečíst (podsložky neprohledávám).
photo-unreadable = Soubor nejde přečíst.
photo-album-full = Album pojme nejvýše { $max } fotek; tato zůstala venku.

## Chat conversation
chat-help = Z fotek jednoho člověka udělám časosběr, jak vyrůstá.
    Pošlete mi jeho fotky (jako soubory, aby zůstala data), nebo /timelapse JMÉNO pro známou osobnost.
    /settings mění video, /cancel zastaví, /forget smaže vše, co jste poslali.
chat-send-photos = Pošlete mi fotky: jednotlivě, v albech nebo jako soubory. Než začnu, ukážu vám tváře.
chat-searching = Hledám datované fotky: { $name }…
chat-photos-over-name = Použiji fotky, které jste přiložili; s fotkami jméno { $name } nehledám.
chat-one-photo = Mám ji. Časosběr potřebuje aspoň dvě fotky; pošlete další.
chat-photos-collected = Zatím { $count } fotek. Pošlete další, nebo nechte mě najít tváře.
chat-too-many-photos = Víc do jednoho časosběru neberu ({ $max } fotek); zbytek jsem vynechal.
chat-not-an-image = Tenhle soubor není fotka, kterou umím přečíst. Pošlete JPEG, PNG, WebP, HEIC, TIFF, BMP nebo GIF.
chat-busy = Ještě pracuji na vašich fotkách; nové pošlete potom, nebo /cancel.
chat-analyzing = Hledám tváře…
chat-analysis-failed = Tváře se nepodařilo přečíst; chyba je na mé straně. Zkuste to prosím za chvíli znovu.
chat-too-few-faces-found = Našel jsem { $count } použitelných tváří; časosběr potřebuje aspoň dvě.
chat-dates-hint = Většina fotek neměla datum. Fotky poslané jako soubory si datum nechají a věk je pak nejpřesnější.
chat-age-format = Napište číslo tváře a věk, třeba #3 12.
chat-stale-button = To tlačítko už neplatí.
chat-too-few-faces = Nechte aspoň dvě tváře.
chat-rendering = Vytvářím video…
chat-render-failed = Video se nepodařilo vytvořit; chyba je na mé straně. Zkuste to prosím za chvíli znovu.
chat-cancelled = Zastaveno.
chat-forgotten = Hotovo: vaše fotky, tváře a videa jsou smazané.
chat-unknown-command = Příkaz { $command } neznám. /help ukáže, co umím.
chat-not-your-session = Tato tlačítka patří tomu, kdo časosběr začal.
chat-settings = Nastavení:
chat-setting = { $name }: { $value }
chat-setting-current = ✓ { $name }: { $value }
chat-button-analyze = Najít tváře
chat-button-keep = Ponechat #{ $number }
chat-button-remove = Odebrat #{ $number }
chat-button-fix-age = Opravit věk
chat-button-settings = Nastavení
chat-button-render = Vytvořit video
chat-crawl-found = Našel jsem { $count } fotek: { $name }. Hledám tváře…
chat-crawl-credits = Autoři fotek:
    { $lines }
chat-crawl-unknown = Nikoho jménem { $name } jsem nenašel. Zkontrolujte pravopis, nebo pošlete fotky.
chat-crawl-too-few = Našel jsem jen { $count } použitelných fotek ({ $name }); časosběr potřebuje aspoň dvě.
chat-crawl-failed = Hledání fotek selhalo; chyba je na mé straně. Zkuste to prosím za chvíli znovu.
chat-sources-unavailable = Zdroje fotek teď nejsou dostupné. Zkuste hledání znovu za pár minut.
chat-name-search-off = Hledání fotek podle jména tento bot nemá nastavené. Pošlete mi místo toho fotky.
chat-photos-gone = Některé vaše fotky už tu uložené nejsou. Pošlete je prosím znovu.
chat-video-too-large = I nejmenší verze videa je nad limitem nahrávání tohoto chatu. Zkuste méně snímků nebo GIF.
chat-queue-full = Na řadě je moc videí ({ $waiting }). Stiskněte prosím Vytvořit video znovu za pár minut.

## Chatovací služba a boti
chat-photo-unusable = Vynechal jsem { $photo }: { $reason }
chat-photos-more = …a dalších { $count } fotek jsem vynechal ze stejných důvodů.
chat-photo-duplicate = Vynechal jsem { $photo }: je to stejný snímek jako { $of }.
chat-stylegan-missing = Generativní vykreslování tu nemá importované váhy, proto jsem použil morfování podle bodů obličeje.
chat-review = { $count } tváří od nejmladší. Červený rámeček: asi někdo jiný; ztmavené: vynechané. Tlačítka je ponechají nebo odeberou; věk opravíte zprávou „#3 12“.
chat-review-left-out = Vynechané: { $numbers }
chat-review-ages = Věk: { $ages }
chat-queued = Čekám, až na mě přijde řada: { $ahead ->
        [0] jste další na řadě.
       *[other] před vámi je videí: { $ahead }.
    }
chat-progress = Vytvářím video… { $percent } %
chat-done = Hotovo.
chat-video-shrunk = Video bylo na odeslání příliš velké, zmenšil jsem ho na { $size } px.
chat-unsupported = Umím použít jen fotky. Pošlete fotky, nebo /help.
chat-download-failed = Tu fotku se z chatu nepodařilo stáhnout. Pošlete ji prosím znovu.
chat-photo-too-large = Soubor má { $size-mb } MB; beru fotky do { $limit-mb } MB.
chat-trouble = Něco se u mě pokazilo; zkuste to prosím za chvíli znovu.

## Discord
discord-command-description = Udělá časosběr jednoho člověka, jak vyrůstá
discord-option-name = Jméno známé osobnosti (nebo místo toho přiložte fotky)
discord-option-photo = Fotka toho člověka
discord-context-menu = Udělat časosběr
discord-review-page = Tlačítka, strana { $page } z { $pages }
discord-button-more = Další tváře ▸
