# lifelapse messages, English (the fallback). Keys are referenced from the code by name.

## Photo intake
photo-empty = The file is empty.
photo-too-large = The file is { $size-mb } MB; files up to { $limit-mb } MB are accepted.
photo-too-many-pixels = The image is { $width }×{ $height } ({ $megapixels } MP); images up to { $limit-mp } MP are accepted.
photo-unknown-format = This is not a photo I can read. Send JPEG, PNG, WebP or HEIC.
photo-truncated = The photo is cut off (the file ends too early). Please send it again.
photo-corrupt = The photo is damaged and cannot be read ({ $detail }).
photo-heif = This HEIC photo cannot be read here ({ $detail }). Sending it as JPEG works.
photo-unreadable = The file cannot be read ({ $detail }).
photo-album-full = An album holds at most { $max } photos; this one was left out.
