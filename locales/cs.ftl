# Zprávy lifelapse, čeština.

## Příjem fotek
photo-empty = Soubor je prázdný.
photo-too-large = Soubor má { $size-mb } MB; přijímám soubory do { $limit-mb } MB.
photo-too-many-pixels = Obrázek má { $width }×{ $height } ({ $megapixels } MP); přijímám obrázky do { $limit-mp } MP.
photo-unknown-format = Tohle není fotka, kterou umím přečíst. Pošlete JPEG, PNG, WebP nebo HEIC.
photo-truncated = Fotka je useknutá (soubor končí příliš brzy). Pošlete ji prosím znovu.
photo-corrupt = Fotka je poškozená a nejde přečíst ({ $detail }).
photo-heif = Tuto fotku HEIC tu nejde přečíst ({ $detail }). Jako JPEG to půjde.
photo-unreadable = Soubor nejde přečíst ({ $detail }).
photo-album-full = Album pojme nejvýše { $max } fotek; tato zůstala venku.
