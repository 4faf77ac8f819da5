# lifelapse messages, English (the fallback). Keys are referenced from the code by name.

## Photo intake
photo-empty = The file is empty.
photo-too-large = The file is { $size-mb } MB; files up to { $limit-mb } MB are accepted.
photo-too-many-pixels = The image is { $width }×{ $height } ({ $megapixels } MP); images up to { $limit-mp } MP are accepted.
photo-unknown-format = This is not a photo I can read. Send JPEG, PNG, WebP, HEIC, TIFF, BMP or GIF.
photo-truncated = The photo is cut off (the file ends too early). Please send it again.
photo-corrupt = The photo is damaged and cannot be read.
photo-heif = This HEIC photo cannot be read here. Sending it as JPEG works.
photo-not-found = There is no such file or folder.
photo-permission-denied = I am not allowed to read this file.
photo-symlink-loop = This is a loop of links that never reaches a file.
photo-not-regular = { $kind ->
        [pipe] This is a pipe, not a file; only files are read.
        [socket] This is a socket, not a file; only files are read.
        [device] This is a device, not a file; only files are read.
        [folder] This is a folder, not a file.
       *[other] This is not a file; only files are read.
    }
photo-empty-folder = This folder holds no photo I can read (sub-folders are not searched).
photo-unreadable = The file cannot be read.
photo-album-full = An album holds at most { $max } photos; this one was left out.

## Chat conversation
chat-help = I turn photos of one person into a time-lapse of them growing up.
    Send me photos of them (as files to keep their dates), or /timelapse NAME for a famous person.
    /settings changes the video, /cancel stops, /forget deletes everything you sent.
chat-send-photos = Send me the photos: single ones, albums or files. I'll show you the faces before I render.
chat-searching = Looking for dated photos of { $name }…
chat-photos-over-name = I'm using the photos you attached; with photos, { $name } is not searched.
chat-one-photo = Got it. A time-lapse needs at least two photos; send more.
chat-photos-collected = { $count } photos so far. Send more, or let me find the faces.
chat-too-many-photos = That's the most I take in one time-lapse ({ $max } photos); the rest were left out.
chat-not-an-image = That file isn't a photo I can read. Send JPEG, PNG, WebP, HEIC, TIFF, BMP or GIF.
chat-busy = I'm still working on your photos; send new ones after this one, or /cancel.
chat-analyzing = Finding the faces…
chat-analysis-failed = I couldn't read the faces; something went wrong on my side. Please try again in a moment.
chat-too-few-faces-found = I found { $count } usable faces; a time-lapse needs at least two.
chat-dates-hint = Most photos had no date. Photos sent as files keep their dates, which gives the most accurate ages.
chat-age-format = Type the face number and the age, like #3 12.
chat-stale-button = That button is out of date.
chat-too-few-faces = Keep at least two faces to render.
chat-rendering = Rendering…
chat-render-failed = The render failed; something went wrong on my side. Please try again in a moment.
chat-cancelled = Stopped.
chat-forgotten = Done: your photos, faces and videos are deleted.
chat-unknown-command = I don't know { $command }. /help lists what I can do.
chat-not-your-session = These buttons belong to whoever started this time-lapse.
chat-settings = Settings:
chat-setting = { $name }: { $value }
chat-setting-current = ✓ { $name }: { $value }
chat-button-analyze = Find the faces
chat-button-keep = Keep #{ $number }
chat-button-remove = Remove #{ $number }
chat-button-fix-age = Fix an age
chat-button-settings = Settings
chat-button-render = Render
chat-crawl-found = Found { $count } photos of { $name }. Finding the faces…
chat-crawl-credits = Photo credits:
    { $lines }
chat-crawl-unknown = I couldn't find anyone called { $name }. Check the spelling, or send photos instead.
chat-crawl-too-few = I found only { $count } usable photos of { $name }; a time-lapse needs at least two.
chat-crawl-failed = The photo search failed; something went wrong on my side. Please try again in a moment.
chat-sources-unavailable = I couldn't reach the photo sources just now. Please try the search again in a few minutes.
chat-name-search-off = Finding photos by name is not set up on this bot. Send me photos instead.
chat-photos-gone = Some of your photos are no longer stored here. Please send them again.
chat-video-too-large = Even the smallest version of this video is over this chat's upload limit. Try fewer frames or GIF.
chat-queue-full = Too many videos are waiting ({ $waiting }). Please press Render again in a few minutes.

## Chat service and bots
chat-photo-unusable = I left out { $photo }: { $reason }
chat-photos-more = …and { $count } more photos were left out for the same reasons.
chat-photo-duplicate = I left out { $photo }: it is the same picture as { $of }.
chat-stylegan-missing = The generative renderer has no imported weights here, so I used landmark morphing.
chat-review = { $count } faces, youngest first. Red frame: probably someone else; dimmed: left out. Buttons keep or remove them; type "#3 12" to fix an age.
chat-review-left-out = Left out: { $numbers }
chat-review-ages = Ages: { $ages }
chat-queued = Waiting for my turn: { $ahead ->
        [0] you're next.
       *[other] { $ahead } videos before yours.
    }
chat-progress = Rendering… { $percent } %
chat-done = Done.
chat-video-shrunk = The video was too large to send, so I made it { $size } px.
chat-unsupported = I can only use photos. Send photos, or /help.
chat-download-failed = I couldn't get that photo from the chat. Please send it again.
chat-photo-too-large = That file is { $size-mb } MB; I take photos up to { $limit-mb } MB.
chat-trouble = Something went wrong on my side; please try again in a moment.

## Discord
discord-command-description = Make a time-lapse of one person growing up
discord-option-name = A well-known person's name (or attach photos instead)
discord-option-photo = A photo of the person
discord-context-menu = Make a time-lapse
discord-review-page = Buttons, page { $page } of { $pages }
discord-button-more = More faces ▸
