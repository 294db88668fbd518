-- A database shaped like Immich's for the restore drill and the backup benchmark: assets,
-- their EXIF with Immich's earthdistance index, and 512-dimension CLIP and face embeddings
-- with HNSW indexes (pgvector). Table and column names follow Immich's; the content is
-- generated. Run in the immich database as the superuser:
--   psql -v ON_ERROR_STOP=1 -v assets=2000 -v seed=0.42 -d immich -f immich_shaped_db.sql
-- About 12 kB of pg_dumpall output per asset (two embeddings printed as text): 85000 assets
-- make a dump of about 1 GB; 2000 take 3.5 s to generate.
\if :{?assets}
\else
\set assets 1000
\endif
\if :{?seed}
\else
\set seed 0.42
\endif

SELECT setseed(:seed);
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS cube;
CREATE EXTENSION IF NOT EXISTS earthdistance;

CREATE TABLE asset (
  id uuid PRIMARY KEY,
  "ownerId" uuid NOT NULL,
  "originalPath" text NOT NULL,
  "originalFileName" text NOT NULL,
  checksum bytea NOT NULL,
  type text NOT NULL,
  "fileCreatedAt" timestamptz NOT NULL,
  thumbhash bytea
);

CREATE TABLE asset_exif (
  "assetId" uuid PRIMARY KEY REFERENCES asset (id) ON DELETE CASCADE,
  make text,
  model text,
  "exifImageWidth" integer,
  "exifImageHeight" integer,
  "fileSizeInByte" bigint,
  latitude double precision,
  longitude double precision,
  city text,
  country text,
  "dateTimeOriginal" timestamptz
);

CREATE TABLE smart_search (
  "assetId" uuid PRIMARY KEY REFERENCES asset (id) ON DELETE CASCADE,
  embedding vector(512) NOT NULL
);

CREATE TABLE face_search (
  "faceId" uuid PRIMARY KEY,
  "assetId" uuid NOT NULL REFERENCES asset (id) ON DELETE CASCADE,
  embedding vector(512) NOT NULL
);

INSERT INTO asset
SELECT md5('asset' || i)::uuid,
       '5b1a1b3e-0000-4000-8000-000000000001',
       'upload/library/admin/' || (2015 + i % 10) || '/IMG_' || lpad(i::text, 6, '0') || '.jpg',
       'IMG_' || lpad(i::text, 6, '0') || '.jpg',
       sha256(('photo' || i)::bytea),
       CASE WHEN i % 12 = 0 THEN 'VIDEO' ELSE 'IMAGE' END,
       timestamptz '2015-01-01' + i * interval '17 minutes',
       substr(sha256(('thumb' || i)::bytea), 1, 24)
FROM generate_series(1, :assets) AS i;

INSERT INTO asset_exif
SELECT id, 'Raspberry', 'Cam ' || (i % 7), 4032, 3024, 2000000 + i * 37,
       47 + random() * 8, 5 + random() * 10, 'City ' || (i % 400), 'Country ' || (i % 30),
       "fileCreatedAt"
FROM (SELECT id, "fileCreatedAt", row_number() OVER (ORDER BY "fileCreatedAt") AS i FROM asset) AS a;

-- The subquery refers to the row (a.id) so Postgres draws a new vector for every row.
INSERT INTO smart_search
SELECT a.id, (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 512) WHERE a.id IS NOT NULL)::vector(512)
FROM asset AS a;

INSERT INTO face_search
SELECT md5('face' || a.id)::uuid, a.id,
       (SELECT array_agg(random()::real - 0.5) FROM generate_series(1, 512) WHERE a.id IS NOT NULL)::vector(512)
FROM asset AS a;

CREATE INDEX "IDX_asset_exif_gist_earthcoord" ON asset_exif USING gist (ll_to_earth(latitude, longitude));
CREATE INDEX clip_index ON smart_search USING hnsw (embedding vector_cosine_ops) WITH (ef_construction = 300, m = 16);
CREATE INDEX face_index ON face_search USING hnsw (embedding vector_cosine_ops) WITH (ef_construction = 300, m = 16);
ANALYZE;
