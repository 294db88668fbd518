-- Fills the schema of immich_v3_schema.sql with generated but realistic content: one admin,
-- :assets assets (about 1 in 12 a video) with their EXIF, thumbnail and preview files, CLIP
-- embeddings, faces with their embeddings and people, and, when geodata_places is still
-- empty, 50,000 generated places. It creates no table: run it in a database where the schema
-- file has already been applied, as the superuser:
--   psql -v ON_ERROR_STOP=1 -v assets=2000 -v seed=0.42 -d immich -f immich_v3_data.sql
-- Defaults: assets=1000, seed=0.42. The same seed and count give the same rows (ids, paths,
-- embeddings); a second run needs another seed (the ids come from it) and adds its assets.
-- About 12 kB of pg_dumpall output per asset (1.7 512-dimension embeddings printed as text
-- per asset on average) plus about 4 MB for the schema and the places: 85,000 assets make
-- about 1 GB; 2000 take about 4.6 s to generate (2 CPUs), 2 s of it for the places.
--
-- Upstream facts it follows (repository immich-app/immich):
-- * paths: server/src/cores/storage.core.ts @ 033dc30202383991b756dc360c94a402b9f3d744.
--   getNestedPath(folder, ownerId, filename) = <media>/<folder>/<ownerId>/<filename[0:2]>/<filename[2:4]>/<filename>
--   (getFolderLocation + getNestedFolder); getImagePath puts "<assetId>-<type>.<format>" under
--   thumbs (a hyphen, not an underscore), getEncodedVideoPath "<assetId>.mp4" under
--   encoded-video, getPersonThumbnailPath "<personId>.jpeg" under thumbs. Uploads are named
--   after a fresh UUID (not the asset id) under upload/<userId>/. IMMICH_MEDIA_LOCATION is /data.
--   Default formats: thumbnail webp, preview jpeg.
-- * folders and keys: StorageFolder, SystemMetadataKey, AssetFileType, AssetType, SourceType in
--   server/src/enum.ts @ 0105c9e2b68b3f6aaa65e247a33c8f4192da273a.
-- * checksum: the SHA-1 of the file, 20 bytes (asset.table.ts); PostgreSQL has no sha1(), so
--   the first 20 bytes of a SHA-256 stand in for it.
\if :{?assets}
\else
\set assets 1000
\endif
\if :{?seed}
\else
\set seed 0.42
\endif

SET client_min_messages = warning;
SELECT setseed(:seed) \gset

-- Session-only helpers (pg_temp: never part of the database or its dump).
-- A version-4 UUID (what uuid_generate_v4() gives) from a key: the same key, the same UUID.
CREATE FUNCTION pg_temp.uuid4(key text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT (substr(md5(key), 1, 12) || '4' || substr(md5(key), 14, 3)
          || substr('89ab', ascii(substr(md5(key), 17, 1)) % 4 + 1, 1) || substr(md5(key), 18, 15))::uuid
$$;
-- A version-7 UUID (what immich_uuid_v7() gives for "updateId") for a time, from a key.
CREATE FUNCTION pg_temp.uuid7(at timestamptz, key text) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT (lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7' || substr(md5(key), 14, 3)
          || substr('89ab', ascii(substr(md5(key), 17, 1)) % 4 + 1, 1) || substr(md5(key), 18, 15))::uuid
$$;
-- A place-like name from a key: two or three syllables.
CREATE FUNCTION pg_temp.word(key text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT initcap(
    ('{ber,lin,ham,burg,mar,sel,vil,la,san,to,ri,no,kar,sta,dor,fen,gar,mon,te,ve,ro,na,bel,ka,zu,rich,wil,
       mo,len,tal,bach,dorf,heim,ville,ton,ford,por,sa,lo,gra,ne,us,an,ci,ta,ko,vo,ra}'::text[])
      [1 + get_byte(decode(md5(key), 'hex'), 0) % 48]
    || ('{ber,lin,ham,burg,mar,sel,vil,la,san,to,ri,no,kar,sta,dor,fen,gar,mon,te,ve,ro,na,bel,ka,zu,rich,wil,
          mo,len,tal,bach,dorf,heim,ville,ton,ford,por,sa,lo,gra,ne,us,an,ci,ta,ko,vo,ra}'::text[])
      [1 + get_byte(decode(md5(key), 'hex'), 1) % 48]
    || CASE WHEN get_byte(decode(md5(key), 'hex'), 2) % 3 = 0
            THEN ('{ber,lin,ham,burg,mar,sel,vil,la,san,to,ri,no,kar,sta,dor,fen,gar,mon,te,ve,ro,na,bel,ka,zu,rich,wil,
                    mo,len,tal,bach,dorf,heim,ville,ton,ford,por,sa,lo,gra,ne,us,an,ci,ta,ko,vo,ra}'::text[])
                   [1 + get_byte(decode(md5(key), 'hex'), 3) % 48]
            ELSE '' END)
$$;
-- Countries of the generated places: code, name as Immich stores it in asset_exif.country,
-- time zone, centre, spread in degrees, and weight (roughly their share of geonames cities500).
CREATE FUNCTION pg_temp.country()
  RETURNS TABLE (code text, name text, tz text, lat float8, lon float8, dlat float8, dlon float8, weight int)
  LANGUAGE sql IMMUTABLE AS $$
  VALUES ('US', 'United States of America', 'America/Chicago', 39.0, -96.0, 18.0, 50.0, 18),
         ('DE', 'Germany', 'Europe/Berlin', 51.0, 10.3, 6.0, 7.0, 8),
         ('FR', 'France', 'Europe/Paris', 46.5, 2.5, 7.0, 8.0, 8),
         ('IT', 'Italy', 'Europe/Rome', 42.5, 12.5, 8.0, 6.0, 6),
         ('ES', 'Spain', 'Europe/Madrid', 40.2, -3.7, 6.0, 9.0, 5),
         ('MX', 'Mexico', 'America/Mexico_City', 22.0, -101.0, 12.0, 18.0, 5),
         ('IN', 'India', 'Asia/Kolkata', 22.0, 79.0, 18.0, 18.0, 5),
         ('BR', 'Brazil', 'America/Sao_Paulo', -12.0, -50.0, 25.0, 25.0, 4),
         ('PL', 'Poland', 'Europe/Warsaw', 52.0, 19.3, 4.5, 8.0, 4),
         ('CH', 'Switzerland', 'Europe/Zurich', 46.8, 8.2, 1.4, 3.6, 3),
         ('AT', 'Austria', 'Europe/Vienna', 47.6, 14.0, 1.8, 7.0, 3),
         ('GB', 'United Kingdom', 'Europe/London', 53.5, -2.0, 8.0, 6.0, 3),
         ('NL', 'Netherlands', 'Europe/Amsterdam', 52.2, 5.5, 2.0, 3.0, 2),
         ('CZ', 'Czechia', 'Europe/Prague', 49.8, 15.5, 2.0, 6.0, 2),
         ('JP', 'Japan', 'Asia/Tokyo', 36.0, 138.0, 10.0, 10.0, 2),
         ('CN', 'China', 'Asia/Shanghai', 33.0, 110.0, 20.0, 30.0, 2),
         ('RU', 'Russia', 'Europe/Moscow', 56.0, 45.0, 10.0, 40.0, 3),
         ('CA', 'Canada', 'America/Toronto', 50.0, -95.0, 10.0, 50.0, 2),
         ('AU', 'Australia', 'Australia/Sydney', -28.0, 140.0, 16.0, 30.0, 1),
         ('PT', 'Portugal', 'Europe/Lisbon', 39.6, -8.0, 4.0, 2.5, 1),
         ('SE', 'Sweden', 'Europe/Stockholm', 61.0, 16.0, 10.0, 8.0, 1),
         ('NO', 'Norway', 'Europe/Oslo', 63.0, 11.0, 10.0, 10.0, 1),
         ('GR', 'Greece', 'Europe/Athens', 39.0, 22.5, 5.0, 6.0, 1),
         ('TH', 'Thailand', 'Asia/Bangkok', 15.0, 101.0, 10.0, 6.0, 1),
         ('ZA', 'South Africa', 'Africa/Johannesburg', -29.0, 25.0, 8.0, 12.0, 1)
$$;

BEGIN;

-- Bulk loading: the indexes that are slow to maintain row by row (the two HNSW vector
-- indexes, and the places' gist and trigram indexes when the places are loaded too) are
-- dropped here and created again at the end from their own definitions (pg_indexes), as
-- pg_restore does, so the end state is the schema file's. Each HNSW index built once is
-- several times faster than 2000 inserts into it.
SELECT NOT EXISTS (SELECT FROM "geodata_places") AS geodata_empty \gset
SELECT string_agg(indexdef, E'\n' ORDER BY indexname) AS rebuild_indexes,
       string_agg(format('DROP INDEX %I', indexname), E'\n') AS drop_indexes
FROM pg_indexes
WHERE schemaname = 'public'
  AND (indexname IN ('clip_index', 'face_index')
       OR (:'geodata_empty' AND tablename = 'geodata_places' AND indexname <> 'geodata_places_pkey')) \gset
SELECT unnest(string_to_array(:'drop_indexes', E'\n')) \gexec

-- The first user, who signed up as the admin (Immich gives the admin the storage label "admin").
INSERT INTO "user" ("id", "email", "password", "createdAt", "profileImagePath", "isAdmin", "shouldChangePassword",
                    "updatedAt", "storageLabel", "name", "profileChangedAt", "updateId", "avatarColor")
VALUES ('5b1a1b3e-97c2-4a6d-8f0e-2c4d6e8fa001', 'admin@example.com',
        '$2b$10$Xq7LxM3dCzH1uQ0nF8YkUeI5tJmV0aWbR2sKpG9oN4cZyD6hE1fTi', '2023-05-14 18:02:11.482+00', '', true,
        false, '2023-05-14 18:02:11.482+00', 'admin', 'Admin', '2023-05-14 18:02:11.482+00',
        pg_temp.uuid7('2023-05-14 18:02:11.482+00', 'user-admin'), 'primary')
ON CONFLICT ("id") DO NOTHING;

-- Written by the Immich server (or its stand-in) on first start; added here only when missing.
INSERT INTO "system_metadata" ("key", "value")
VALUES ('system-flags', '{"mountChecks": {"upload": true, "library": true, "thumbs": true, "encoded-video": true, "profile": true, "backups": true}}')
ON CONFLICT ("key") DO NOTHING;

-- Places, only into an empty table (Immich imports geonames' cities500, about 200,000 places
-- with admin names and alternate names, on first start). 50,000 generated ones keep the table,
-- its gist index on ll_to_earth_public and its four trigram indexes a realistic shape at a
-- quarter of the size, so the script stays fast (about 2 s for the rows and their indexes) and
-- the fixed part of a dump stays small next to the assets (about 4 MB).
\if :geodata_empty
INSERT INTO "geodata_places" ("id", "name", "longitude", "latitude", "countryCode", "admin1Code", "admin2Code",
                              "modificationDate", "admin1Name", "admin2Name", "alternateNames")
SELECT 2500000 + p.i * 211 + floor(p.r1 * 200)::int,
       pg_temp.word(:'seed' || '/place/' || p.i) || CASE WHEN p.r2 < 0.15 THEN ' ' || pg_temp.word(:'seed' || '/place2/' || p.i) ELSE '' END,
       round((c.lon + (p.r3 - 0.5) * c.dlon)::numeric, 5)::float8,
       round((c.lat + (p.r4 - 0.5) * c.dlat)::numeric, 5)::float8,
       c.code,
       lpad(p.a1::text, 2, '0'),
       CASE WHEN p.r2 < 0.85 THEN (p.a1 * 1000 + p.a2)::text END,
       date '2011-03-01' + floor(p.r5 * 4800)::int,
       pg_temp.word(c.code || '/admin1/' || p.a1),
       CASE WHEN p.r2 < 0.85 THEN pg_temp.word(c.code || '/admin2/' || p.a1 || '/' || p.a2) END,
       CASE WHEN p.r5 < 0.45 THEN NULL
            ELSE concat_ws(',', pg_temp.word(:'seed' || '/alt1/' || p.i),
                           CASE WHEN p.r5 > 0.7 THEN pg_temp.word(:'seed' || '/alt2/' || p.i) END,
                           CASE WHEN p.r5 > 0.9 THEN pg_temp.word(:'seed' || '/alt3/' || p.i) END) END
FROM (SELECT i, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5,
             1 + floor(random() * 16)::int AS a1, 1 + floor(random() * 40)::int AS a2,
             (SELECT array_agg(code) FROM pg_temp.country() AS c, generate_series(1, c.weight))
               [1 + floor(random() * (SELECT sum(weight) FROM pg_temp.country()))::int] AS code
      FROM generate_series(1, 50000) AS i) AS p
JOIN pg_temp.country() AS c ON c.code = p.code;

INSERT INTO "system_metadata" ("key", "value")
VALUES ('reverse-geocoding-state', '{"lastUpdate": "2026-02-12T00:00:00.000Z", "lastImportFileName": "cities500.txt"}')
ON CONFLICT ("key") DO NOTHING;
\endif

-- The assets, one statement: per asset the asset row, its EXIF, its thumbnail and preview (and
-- for a third of the videos a transcode) in asset_file, and its CLIP embedding (Immich embeds
-- videos too, from a frame). The CTE g draws every random value once per asset.
WITH place AS (
  SELECT row_number() OVER (ORDER BY p.id) AS n, p.name, p."admin1Name", p.latitude, p.longitude,
         c.name AS country, c.tz
  FROM "geodata_places" AS p JOIN pg_temp.country() AS c ON c.code = p."countryCode"
),
home AS (  -- most photos are taken near home: five places in one country
  SELECT array_agg(n ORDER BY n) AS n, (SELECT count(*) FROM place) AS places
  FROM (SELECT n FROM place WHERE country = 'Switzerland' ORDER BY n LIMIT 5) AS h
),
camera (k, make, model, lens, width, height, prefix, fnumber, focal) AS (
  VALUES (1, 'Apple', 'iPhone 13', 'iPhone 13 back dual wide camera 5.1mm f/1.6', 4032, 3024, 'IMG_', 1.6, 5.1),
         (2, 'Apple', 'iPhone 15 Pro', 'iPhone 15 Pro back triple camera 6.765mm f/1.78', 4032, 3024, 'IMG_', 1.78, 6.765),
         (3, 'Google', 'Pixel 7', NULL, 4080, 3072, 'PXL_', 1.85, 6.81),
         (4, 'samsung', 'SM-S911B', NULL, 4000, 3000, '', 1.8, 5.4),
         (5, 'SONY', 'ILCE-7M3', 'FE 24-105mm F4 G OSS', 6000, 4000, 'DSC0', 4.0, 35.0),
         (6, 'FUJIFILM', 'X-T30', 'XF18-55mmF2.8-4 R LM OIS', 6240, 4160, 'DSCF', 2.8, 23.0)
),
g AS (
  SELECT s.i,
         pg_temp.uuid4(:'seed' || '/asset/' || s.i) AS id,
         pg_temp.uuid4(:'seed' || '/upload/' || s.i)::text AS upload,
         s.video, s.taken, s.r1, s.r2, s.r3, s.r4, s.r5,
         CASE WHEN s.video THEN 1 + floor(s.r1 * 4)::int ELSE 1 + floor(s.r1 * 6)::int END AS cam,
         CASE WHEN s.r2 < 0.15 THEN NULL
              WHEN s.r2 < 0.65 THEN home.n[1 + floor(s.r3 * 5)::int]
              ELSE 1 + floor(s.r3 * home.places)::int END AS place_n,
         -- uploaded by the app a few minutes after taking it, or in the first bulk upload
         date_trunc('milliseconds', CASE WHEN s.taken > timestamptz '2023-05-14 18:00+00' THEN s.taken + s.r4 * interval '3 hours'
                                         ELSE timestamptz '2023-05-14 19:00+00' + s.r4 * interval '9 days' END) AS uploaded
  FROM (SELECT i, random() < 1.0 / 12 AS video,
               date_trunc('milliseconds', timestamptz '2014-06-01 00:00+00' + random() * interval '4280 days') AS taken,
               random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5
        FROM generate_series(1, :assets) AS i) AS s
  CROSS JOIN home
),
a AS (
  SELECT g.*, cam.make, cam.model, cam.lens, cam.fnumber, cam.focal,
         pl.name AS city, pl."admin1Name" AS state, pl.country,
         round((pl.latitude + (g.r5 - 0.5) * 0.04)::numeric, 6)::float8 AS lat,
         round((pl.longitude + (g.r1 - 0.5) * 0.04)::numeric, 6)::float8 AS lon,
         coalesce(pl.tz, 'Europe/Zurich') AS tz,
         CASE WHEN g.video THEN CASE WHEN g.r5 < 0.5 THEN 1920 ELSE 3840 END ELSE cam.width END AS w,
         CASE WHEN g.video THEN CASE WHEN g.r5 < 0.5 THEN 1080 ELSE 2160 END ELSE cam.height END AS h,
         NOT g.video AND g.r3 < 0.18 AS portrait,
         CASE WHEN g.video THEN 10000000 + floor(g.r4 * 70000000)::bigint
              ELSE 1500000 + floor(g.r4 * 4500000)::bigint END AS size,
         (CASE WHEN cam.prefix = 'PXL_' THEN 'PXL_' || to_char(g.taken AT TIME ZONE coalesce(pl.tz, 'Europe/Zurich'), 'YYYYMMDD_HH24MISSMS')
               WHEN cam.prefix = '' THEN to_char(g.taken AT TIME ZONE coalesce(pl.tz, 'Europe/Zurich'), 'YYYYMMDD_HH24MISS')
               ELSE cam.prefix || lpad((g.i % 9999 + 1)::text, 4, '0') END)
           || CASE WHEN NOT g.video THEN '.jpg' WHEN cam.make = 'Apple' THEN '.MOV' ELSE '.mp4' END AS filename
  FROM g
  JOIN camera AS cam ON cam.k = g.cam
  LEFT JOIN place AS pl ON pl.n = g.place_n
),
ins_asset AS (
  INSERT INTO "asset" ("id", "ownerId", "type", "originalPath", "fileCreatedAt", "fileModifiedAt", "isFavorite", "duration",
                       "checksum", "updatedAt", "createdAt", "originalFileName", "thumbhash", "deletedAt", "localDateTime",
                       "status", "updateId", "visibility", "width", "height", "checksumAlgorithm")
  SELECT a.id, '5b1a1b3e-97c2-4a6d-8f0e-2c4d6e8fa001',
         CASE WHEN a.video THEN 'VIDEO' ELSE 'IMAGE' END,
         '/data/upload/5b1a1b3e-97c2-4a6d-8f0e-2c4d6e8fa001/' || substr(a.upload, 1, 2) || '/' || substr(a.upload, 3, 2) || '/'
           || a.upload || lower(substring(a.filename FROM '\.[^.]+$')),
         a.taken, a.taken + (a.r2 * 40)::int * interval '1 second',
         a.r5 < 0.04,
         CASE WHEN a.video THEN 3000 + floor(a.r3 * 177000)::int END,
         substr(sha256(convert_to(:'seed' || '/file/' || a.i, 'UTF8')), 1, 20),
         a.uploaded + interval '95 seconds', a.uploaded, a.filename,
         substr(sha256(convert_to(:'seed' || '/thumbhash/' || a.i, 'UTF8')), 1, 24),
         CASE WHEN a.r4 > 0.99 THEN a.uploaded + interval '41 days' END,
         (a.taken AT TIME ZONE a.tz) AT TIME ZONE 'UTC',
         CASE WHEN a.r4 > 0.99 THEN 'trashed' ELSE 'active' END::assets_status_enum,
         pg_temp.uuid7(a.uploaded + interval '95 seconds', :'seed' || '/asset-update/' || a.i),
         CASE WHEN a.r3 > 0.98 THEN 'archive' ELSE 'timeline' END::asset_visibility_enum,
         CASE WHEN a.portrait THEN a.h ELSE a.w END, CASE WHEN a.portrait THEN a.w ELSE a.h END,
         'sha1'
  FROM a
  RETURNING "id"
),
ins_exif AS (
  INSERT INTO "asset_exif" ("assetId", "make", "model", "exifImageWidth", "exifImageHeight", "fileSizeInByte", "orientation",
                            "dateTimeOriginal", "modifyDate", "lensModel", "fNumber", "focalLength", "iso", "latitude",
                            "longitude", "city", "state", "country", "description", "fps", "exposureTime", "timeZone",
                            "profileDescription", "colorspace", "bitsPerSample", "rating", "updatedAt", "updateId")
  SELECT a.id, a.make, a.model, a.w, a.h, a.size,
         CASE WHEN a.portrait THEN '6' ELSE '1' END,
         a.taken, a.taken, CASE WHEN NOT a.video THEN a.lens END,
         CASE WHEN NOT a.video THEN a.fnumber END, CASE WHEN NOT a.video THEN a.focal END,
         CASE WHEN NOT a.video THEN (ARRAY[50, 64, 80, 100, 125, 200, 320, 400, 640, 800, 1250, 3200])[1 + floor(a.r3 * 12)::int] END,
         a.lat, a.lon, a.city, a.state, a.country,
         CASE WHEN a.r1 > 0.98 THEN 'Holidays with the family' ELSE '' END,
         CASE WHEN a.video THEN CASE WHEN a.r2 < 0.7 THEN 30 ELSE 60 END END,
         CASE WHEN NOT a.video THEN '1/' || (ARRAY[30, 60, 120, 250, 500, 1000, 2000])[1 + floor(a.r4 * 7)::int] END,
         a.tz,
         CASE WHEN a.make = 'Apple' THEN 'Display P3' ELSE 'sRGB IEC61966-2.1' END, 'sRGB', 8,
         CASE WHEN a.r5 > 0.97 THEN 5 END,
         a.uploaded + interval '95 seconds', pg_temp.uuid7(a.uploaded + interval '95 seconds', :'seed' || '/exif-update/' || a.i)
  FROM a
),
ins_file AS (
  INSERT INTO "asset_file" ("id", "assetId", "createdAt", "updatedAt", "type", "path", "updateId")
  SELECT pg_temp.uuid4(:'seed' || '/' || f.type || '/' || a.i), a.id, a.uploaded + f.after, a.uploaded + f.after, f.type,
         '/data/' || f.folder || '/5b1a1b3e-97c2-4a6d-8f0e-2c4d6e8fa001/' || substr(a.id::text, 1, 2) || '/' || substr(a.id::text, 3, 2)
           || '/' || a.id || f.suffix,
         pg_temp.uuid7(a.uploaded + f.after, :'seed' || '/' || f.type || '-update/' || a.i)
  FROM a
  JOIN (VALUES ('thumbnail', 'thumbs', '-thumbnail.webp', interval '40 seconds'),
               ('preview', 'thumbs', '-preview.jpeg', interval '40 seconds'),
               ('encoded_video', 'encoded-video', '.mp4', interval '3 minutes')) AS f (type, folder, suffix, after)
    ON f.type <> 'encoded_video' OR (a.video AND a.r1 < 0.33)
)
INSERT INTO "smart_search" ("assetId", "embedding")
-- The subquery refers to the row (a.id) so Postgres draws a new vector for every row;
-- CLIP embeddings are unit vectors.
SELECT a.id, l2_normalize((SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 512) WHERE a.id IS NOT NULL)::vector(512))
FROM a;

-- Faces of this run's photos, about 0.7 a photo on average, and people:
-- one person per 40 assets, at least 3, with the faces spread unevenly among them and one
-- face in six of nobody recognised. The person's cover face (faceAssetId) is its first face.
WITH photo AS (
  SELECT a.id, a."ownerId", a."createdAt", i AS n, random() AS r
  FROM generate_series(1, :assets) AS i
  JOIN "asset" AS a ON a.id = pg_temp.uuid4(:'seed' || '/asset/' || i)
  WHERE a.type = 'IMAGE'
),
people AS (SELECT greatest(3, :assets / 40) AS count),
face AS (
  SELECT pg_temp.uuid4(:'seed' || '/face/' || photo.n || '/' || k) AS id, photo.id AS asset, photo."ownerId", photo."createdAt",
         photo.n, k, random() AS r1, random() AS r2, random() AS r3, random() AS r4
  FROM photo
  CROSS JOIN LATERAL generate_series(1, CASE WHEN photo.r < 0.55 THEN 0 WHEN photo.r < 0.80 THEN 1
                                             WHEN photo.r < 0.93 THEN 2 WHEN photo.r < 0.985 THEN 3 ELSE 4 END) AS k
),
assigned AS (
  SELECT face.*,
         CASE WHEN face.r1 < 5.0 / 6 THEN pg_temp.uuid4(:'seed' || '/person/' || (1 + floor(face.r2 * face.r2 * (SELECT count FROM people))::int)) END AS person,
         floor(40 + face.r3 * 500)::int AS x, floor(60 + face.r4 * 300)::int AS y, floor(60 + face.r1 * 240)::int AS size
  FROM face
),
ins_person AS (
  INSERT INTO "person" ("id", "createdAt", "updatedAt", "ownerId", "name", "thumbnailPath", "isHidden", "birthDate",
                        "faceAssetId", "isFavorite", "updateId")
  SELECT p.id, p.at, p.at, '5b1a1b3e-97c2-4a6d-8f0e-2c4d6e8fa001',
         CASE WHEN p.k % 5 < 3 THEN pg_temp.word(:'seed' || '/person-name/' || p.k) ELSE '' END,
         '/data/thumbs/5b1a1b3e-97c2-4a6d-8f0e-2c4d6e8fa001/' || substr(p.id::text, 1, 2) || '/' || substr(p.id::text, 3, 2) || '/' || p.id || '.jpeg',
         p.k % 17 = 16,
         CASE WHEN p.k % 4 = 0 THEN date '1950-01-01' + (p.k * 977) % 25000 END,
         cover.face, p.k % 11 = 0, pg_temp.uuid7(p.at, :'seed' || '/person-update/' || p.k)
  FROM (SELECT k, pg_temp.uuid4(:'seed' || '/person/' || k) AS id,
               timestamptz '2023-05-15 02:00+00' + k * interval '7 seconds' AS at
        FROM generate_series(1, (SELECT count FROM people)) AS k) AS p
  LEFT JOIN (SELECT person, min(id::text)::uuid AS face FROM assigned GROUP BY person) AS cover ON cover.person = p.id
  WHERE EXISTS (SELECT FROM photo)
),
ins_face AS (
  INSERT INTO "asset_face" ("assetId", "personId", "imageWidth", "imageHeight", "boundingBoxX1", "boundingBoxY1",
                            "boundingBoxX2", "boundingBoxY2", "id", "sourceType", "updatedAt", "updateId")
  SELECT f.asset, f.person, 1440, 1080, f.x + (f.k - 1) * 160, f.y, f.x + (f.k - 1) * 160 + f.size, f.y + f.size, f.id,
         'machine-learning', f."createdAt" + interval '4 minutes',
         pg_temp.uuid7(f."createdAt" + interval '4 minutes', :'seed' || '/face-update/' || f.n || '/' || f.k)
  FROM assigned AS f
)
INSERT INTO "face_search" ("faceId", "embedding")
SELECT f.id, l2_normalize((SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 512) WHERE f.id IS NOT NULL)::vector(512))
FROM assigned AS f;

SELECT unnest(string_to_array(:'rebuild_indexes', E'\n')) \gexec

-- What the admin's files take (Immich's usage job sums the originals).
UPDATE "user" SET "quotaUsageInBytes" = (SELECT coalesce(sum(e."fileSizeInByte"), 0)
                                         FROM "asset" AS a JOIN "asset_exif" AS e ON e."assetId" = a.id
                                         WHERE a."ownerId" = "user".id)
WHERE "id" = '5b1a1b3e-97c2-4a6d-8f0e-2c4d6e8fa001';

COMMIT;
ANALYZE;
