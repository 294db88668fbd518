-- The part of Immich v3.2.2's database that the restore drill, the backup tests and the
-- backup benchmark need, as a fresh Immich creates it with its migrations in pgvector mode
-- (DB_VECTOR_EXTENSION=pgvector). Applied once, to an empty database, as the superuser:
--   psql -v ON_ERROR_STOP=1 -d immich -f immich_v3_schema.sql
-- then filled by immich_v3_data.sql. Nothing here is idempotent (like Immich's migrations on
-- first start) except CREATE EXTENSION.
--
-- Names and types are upstream's facts, written out here as plain SQL; every table names the
-- upstream files and commits (repository immich-app/immich) it follows. No stored snapshot was
-- tagged v3.2.2: the base is the Kysely InitialMigration and the StandardizeNames migration,
-- with the columns that later migrations added or dropped, as they stand in the v3-era table
-- files. Where the commit of a v3-era change could not be pinned, the comment says so.
--
-- Not created (a real v3.2.2 database has them): the ~50 other tables (album*, tag*, memory*,
-- session, api_key, partner, stack_audit, the *_audit tables and their delete triggers,
-- asset_job_status, asset_metadata, asset_edit, asset_ocr, ocr_search, notification,
-- naturalearth_countries, migration_overrides, version_history, plugin, workflow, ...).

-- server/src/schema/migrations/1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf
-- (the extensions; `vector` is what getVectorExtension() picks in pgvector mode, CASCADE as upstream)
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS "unaccent";
CREATE EXTENSION IF NOT EXISTS "cube";
CREATE EXTENSION IF NOT EXISTS "earthdistance";
CREATE EXTENSION IF NOT EXISTS "pg_trgm";
CREATE EXTENSION IF NOT EXISTS vector CASCADE;

-- server/src/schema/migrations/1746636476623-DropExtraIndexes.ts @ 20d36421e6b3c8ba97616bdad49506a7340c055f
-- sets the database's search_path (it still names pgvecto.rs's schema "vectors").
DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET search_path TO "$user", public, vectors', current_database());
END
$$;

-- Functions: server/src/schema/functions.ts @ 0717cbdeb388cba84a41d83499421c98b9effde4 and
-- 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf.
-- immich_uuid_v7: the default of every "updateId" column (a UUIDv7 from the clock).
CREATE FUNCTION immich_uuid_v7(p_timestamp timestamp with time zone DEFAULT clock_timestamp())
  RETURNS uuid
  VOLATILE LANGUAGE SQL
  AS $$
    SELECT encode(
      set_bit(
        set_bit(
          overlay(uuid_send(gen_random_uuid())
                  PLACING substring(int8send(floor(extract(epoch FROM p_timestamp) * 1000)::bigint) FROM 3)
                  FROM 1 FOR 6),
          52, 1),
        53, 1),
      'hex')::uuid;
  $$;

-- updated_at: the BEFORE UPDATE trigger of the tables with "updatedAt" and "updateId".
CREATE FUNCTION updated_at()
  RETURNS TRIGGER
  LANGUAGE PLPGSQL
  AS $$
    DECLARE
      clock_timestamp TIMESTAMP := clock_timestamp();
    BEGIN
      new."updatedAt" = clock_timestamp;
      new."updateId" = immich_uuid_v7(clock_timestamp);
      RETURN new;
    END;
  $$;

-- f_unaccent: used by the trigram indexes (a SQL-standard body, resolved when created).
CREATE FUNCTION f_unaccent(text)
  RETURNS text
  PARALLEL SAFE STRICT IMMUTABLE LANGUAGE SQL
  RETURN unaccent('unaccent', $1);

-- ll_to_earth_public: earthdistance's ll_to_earth with every name schema-qualified, so the
-- indexes on it can be rebuilt while pg_restore/psql runs with an empty search_path.
CREATE FUNCTION ll_to_earth_public(latitude double precision, longitude double precision)
  RETURNS public.earth
  PARALLEL SAFE STRICT IMMUTABLE LANGUAGE SQL
  AS $$
    SELECT public.cube(public.cube(public.cube(public.earth()*cos(radians(latitude))*cos(radians(longitude))),public.earth()*cos(radians(latitude))*sin(radians(longitude))),public.earth()*sin(radians(latitude)))::public.earth
  $$;

-- Enums: server/src/schema/enums.ts and server/src/enum.ts @ 0105c9e2b68b3f6aaa65e247a33c8f4192da273a;
-- assets_status_enum and sourcetype from 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf,
-- asset_visibility_enum from 1745902563899-AddAssetVisibilityColumn.ts @ 4952b9eb02012df66bcabdae7b89aab4a3b7b995
-- plus 'locked' (1746844028242-AddLockedVisibilityEnum.ts), asset_checksum_algorithm_enum
-- ('sha1' = SHA-1 of the file, 'sha1-path' = external libraries) from the v3-era
-- ChecksumAlgorithm in server/src/enum.ts (its migration's commit not pinned).
CREATE TYPE assets_status_enum AS ENUM ('active', 'trashed', 'deleted');
CREATE TYPE sourcetype AS ENUM ('machine-learning', 'exif', 'manual');
CREATE TYPE asset_visibility_enum AS ENUM ('archive', 'timeline', 'hidden', 'locked');
CREATE TYPE asset_checksum_algorithm_enum AS ENUM ('sha1', 'sha1-path');

-- user ("users" until StandardizeNames): 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf,
-- renamed by 1752267649968-StandardizeNames.ts @ 9065097617234073831d47b0be427e4f16784322;
-- avatarColor and pinCode from 1745244781846-AddUserAvatarColorColumn.ts and the AddUserPincode
-- migration; cross-checked with server/src/schema/tables/user.table.ts.
CREATE TABLE "user" (
  "id" uuid NOT NULL DEFAULT uuid_generate_v4(),
  "email" character varying NOT NULL,
  "password" character varying NOT NULL DEFAULT '',
  "createdAt" timestamp with time zone NOT NULL DEFAULT now(),
  "profileImagePath" character varying NOT NULL DEFAULT '',
  "isAdmin" boolean NOT NULL DEFAULT false,
  "shouldChangePassword" boolean NOT NULL DEFAULT true,
  "deletedAt" timestamp with time zone,
  "oauthId" character varying NOT NULL DEFAULT '',
  "updatedAt" timestamp with time zone NOT NULL DEFAULT now(),
  "storageLabel" character varying,
  "name" character varying NOT NULL DEFAULT '',
  "quotaSizeInBytes" bigint,
  "quotaUsageInBytes" bigint NOT NULL DEFAULT 0,
  "status" character varying NOT NULL DEFAULT 'active',
  "profileChangedAt" timestamp with time zone NOT NULL DEFAULT now(),
  "updateId" uuid NOT NULL DEFAULT immich_uuid_v7(),
  "avatarColor" character varying,
  "pinCode" character varying,
  CONSTRAINT "user_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "user_email_uq" UNIQUE ("email"),
  CONSTRAINT "user_storageLabel_uq" UNIQUE ("storageLabel")
);
CREATE INDEX "user_updatedAt_id_idx" ON "user" ("updatedAt", "id");
CREATE INDEX "user_updateId_idx" ON "user" ("updateId");
CREATE TRIGGER "user_updatedAt" BEFORE UPDATE ON "user" FOR EACH ROW EXECUTE FUNCTION updated_at();

-- library ("libraries"): server/src/schema/tables/library.table.ts @ 0e85858bf9a5fc361d6e5e8fc6c150d0ca50201d,
-- types from 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf,
-- names from 1752267649968-StandardizeNames.ts @ 9065097617234073831d47b0be427e4f16784322.
CREATE TABLE "library" (
  "id" uuid NOT NULL DEFAULT uuid_generate_v4(),
  "name" character varying NOT NULL,
  "ownerId" uuid NOT NULL,
  "importPaths" text[] NOT NULL,
  "exclusionPatterns" text[] NOT NULL,
  "createdAt" timestamp with time zone NOT NULL DEFAULT now(),
  "updatedAt" timestamp with time zone NOT NULL DEFAULT now(),
  "deletedAt" timestamp with time zone,
  "refreshedAt" timestamp with time zone,
  "updateId" uuid NOT NULL DEFAULT immich_uuid_v7(),
  CONSTRAINT "library_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "library_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "user" ("id") ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX "library_ownerId_idx" ON "library" ("ownerId");
CREATE INDEX "library_updateId_idx" ON "library" ("updateId");
CREATE TRIGGER "library_updatedAt" BEFORE UPDATE ON "library" FOR EACH ROW EXECUTE FUNCTION updated_at();

-- stack ("asset_stack"), only because asset."stackId" references it:
-- 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf and
-- 1752267649968-StandardizeNames.ts @ 9065097617234073831d47b0be427e4f16784322 (createdAt,
-- updatedAt, updateId from the StackSyncChanges migration). Its FK to asset comes below.
CREATE TABLE "stack" (
  "id" uuid NOT NULL DEFAULT uuid_generate_v4(),
  "primaryAssetId" uuid NOT NULL,
  "ownerId" uuid NOT NULL,
  "createdAt" timestamp with time zone NOT NULL DEFAULT now(),
  "updatedAt" timestamp with time zone NOT NULL DEFAULT now(),
  "updateId" uuid NOT NULL DEFAULT immich_uuid_v7(),
  CONSTRAINT "stack_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "stack_primaryAssetId_uq" UNIQUE ("primaryAssetId"),
  CONSTRAINT "stack_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "user" ("id") ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX "stack_ownerId_idx" ON "stack" ("ownerId");
CREATE INDEX "stack_primaryAssetId_idx" ON "stack" ("primaryAssetId");
CREATE TRIGGER "stack_updatedAt" BEFORE UPDATE ON "stack" FOR EACH ROW EXECUTE FUNCTION updated_at();

-- asset ("assets"): server/src/schema/tables/asset.table.ts @ 07d2d7bc21ea11826b9910060a496d5fa7aa8b27
-- (columns, indexes, the checksum constraints; that snapshot's encryption* columns are not
-- upstream's and are left out), types from 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf,
-- names from 1752267649968-StandardizeNames.ts @ 9065097617234073831d47b0be427e4f16784322,
-- visibility from 1745902563899-AddAssetVisibilityColumn.ts @ 4952b9eb02012df66bcabdae7b89aab4a3b7b995
-- (drops isVisible, isArchived), width/height from 1763785815996-AddAssetWidthHeight.ts @ 704a44ba1cbecca97ab22b94c4332ddd7520022c,
-- sidecarPath dropped by 1755984055382-SidecarInAssetFile.ts @ 20f5a14d0354626bfbbc48faa2406c61d3f1c42a.
-- v3-era changes whose commits could not be pinned (they are in the v3-era asset.table.ts):
-- deviceAssetId and deviceId dropped, encodedVideoPath moved to asset_file ('encoded_video'),
-- duration an integer (milliseconds here), checksumAlgorithm added, isEdited added,
-- asset_createdAt_idx and asset_id_timeline_notDeleted_idx added.
-- checksum is the SHA-1 of the file (20 bytes); originalPath is absolute (under /data since
-- 1752759108283-ConvertToAbsolutePaths.ts and IMMICH_MEDIA_LOCATION=/data).
CREATE TABLE "asset" (
  "id" uuid NOT NULL DEFAULT uuid_generate_v4(),
  "ownerId" uuid NOT NULL,
  "type" character varying NOT NULL,
  "originalPath" character varying NOT NULL,
  "fileCreatedAt" timestamp with time zone NOT NULL,
  "fileModifiedAt" timestamp with time zone NOT NULL,
  "isFavorite" boolean NOT NULL DEFAULT false,
  "duration" integer,
  "checksum" bytea NOT NULL,
  "livePhotoVideoId" uuid,
  "updatedAt" timestamp with time zone NOT NULL DEFAULT now(),
  "createdAt" timestamp with time zone NOT NULL DEFAULT now(),
  "originalFileName" character varying NOT NULL,
  "thumbhash" bytea,
  "isOffline" boolean NOT NULL DEFAULT false,
  "libraryId" uuid,
  "isExternal" boolean NOT NULL DEFAULT false,
  "deletedAt" timestamp with time zone,
  "localDateTime" timestamp with time zone NOT NULL,
  "stackId" uuid,
  "duplicateId" uuid,
  "status" assets_status_enum NOT NULL DEFAULT 'active',
  "updateId" uuid NOT NULL DEFAULT immich_uuid_v7(),
  "visibility" asset_visibility_enum NOT NULL DEFAULT 'timeline',
  "width" integer,
  "height" integer,
  "isEdited" boolean NOT NULL DEFAULT false,
  "checksumAlgorithm" asset_checksum_algorithm_enum NOT NULL,
  CONSTRAINT "asset_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "asset_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "user" ("id") ON UPDATE CASCADE ON DELETE CASCADE,
  CONSTRAINT "asset_livePhotoVideoId_fkey" FOREIGN KEY ("livePhotoVideoId") REFERENCES "asset" ("id") ON UPDATE CASCADE ON DELETE SET NULL,
  CONSTRAINT "asset_libraryId_fkey" FOREIGN KEY ("libraryId") REFERENCES "library" ("id") ON UPDATE CASCADE ON DELETE CASCADE,
  CONSTRAINT "asset_stackId_fkey" FOREIGN KEY ("stackId") REFERENCES "stack" ("id") ON UPDATE CASCADE ON DELETE SET NULL
);
-- ASSET_CHECKSUM_CONSTRAINT keeps its TypeORM-era name (server/src/utils/database.ts @ 0093b65c50e8ae88ad328e02106ea0771ddc047b).
CREATE UNIQUE INDEX "UQ_assets_owner_checksum" ON "asset" ("ownerId", "checksum") WHERE ("libraryId" IS NULL);
CREATE UNIQUE INDEX "asset_ownerId_libraryId_checksum_idx" ON "asset" ("ownerId", "libraryId", "checksum") WHERE ("libraryId" IS NOT NULL);
CREATE INDEX "asset_localDateTime_idx" ON "asset" ((("localDateTime" AT TIME ZONE 'UTC')::date));
CREATE INDEX "asset_localDateTime_month_idx" ON "asset" ((date_trunc('MONTH'::text, ("localDateTime" AT TIME ZONE 'UTC'::text)) AT TIME ZONE 'UTC'::text));
CREATE INDEX "asset_originalPath_libraryId_idx" ON "asset" ("originalPath", "libraryId");
CREATE INDEX "asset_id_stackId_idx" ON "asset" ("id", "stackId");
CREATE INDEX "asset_originalFilename_trigram_idx" ON "asset" USING gin (f_unaccent("originalFileName") gin_trgm_ops);
CREATE INDEX "asset_id_timeline_notDeleted_idx" ON "asset" ("id") WHERE (visibility = 'timeline' AND "deletedAt" IS NULL);
CREATE INDEX "asset_ownerId_idx" ON "asset" ("ownerId");
CREATE INDEX "asset_fileCreatedAt_idx" ON "asset" ("fileCreatedAt");
CREATE INDEX "asset_checksum_idx" ON "asset" ("checksum");
CREATE INDEX "asset_livePhotoVideoId_idx" ON "asset" ("livePhotoVideoId");
CREATE INDEX "asset_createdAt_idx" ON "asset" ("createdAt");
CREATE INDEX "asset_originalFileName_idx" ON "asset" ("originalFileName");
CREATE INDEX "asset_libraryId_idx" ON "asset" ("libraryId");
CREATE INDEX "asset_stackId_idx" ON "asset" ("stackId");
CREATE INDEX "asset_duplicateId_idx" ON "asset" ("duplicateId");
CREATE INDEX "asset_updateId_idx" ON "asset" ("updateId");
CREATE TRIGGER "asset_updatedAt" BEFORE UPDATE ON "asset" FOR EACH ROW EXECUTE FUNCTION updated_at();
ALTER TABLE "stack" ADD CONSTRAINT "stack_primaryAssetId_fkey" FOREIGN KEY ("primaryAssetId") REFERENCES "asset" ("id");

-- asset_exif ("exif"): server/src/schema/tables/asset-exif.table.ts @ 86b443afb623327ac9042f2f9446ac8f347a05b5
-- (columns up to lockedProperties), types from 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf,
-- names from 1752267649968-StandardizeNames.ts @ 9065097617234073831d47b0be427e4f16784322.
-- v3-era, commit not pinned: the tags column and IDX_asset_exif_gist_earthcoord (gist on
-- ll_to_earth_public, the reverse-geocoding/"near" index) of the later asset-exif.table.ts.
CREATE TABLE "asset_exif" (
  "assetId" uuid NOT NULL,
  "make" character varying,
  "model" character varying,
  "exifImageWidth" integer,
  "exifImageHeight" integer,
  "fileSizeInByte" bigint,
  "orientation" character varying,
  "dateTimeOriginal" timestamp with time zone,
  "modifyDate" timestamp with time zone,
  "lensModel" character varying,
  "fNumber" double precision,
  "focalLength" double precision,
  "iso" integer,
  "latitude" double precision,
  "longitude" double precision,
  "city" character varying,
  "state" character varying,
  "country" character varying,
  "description" text NOT NULL DEFAULT '',
  "fps" double precision,
  "exposureTime" character varying,
  "livePhotoCID" character varying,
  "timeZone" character varying,
  "projectionType" character varying,
  "profileDescription" character varying,
  "colorspace" character varying,
  "bitsPerSample" integer,
  "autoStackId" character varying,
  "rating" integer,
  "updatedAt" timestamp with time zone NOT NULL DEFAULT clock_timestamp(),
  "updateId" uuid NOT NULL DEFAULT immich_uuid_v7(),
  "lockedProperties" character varying[],
  "tags" character varying[],
  CONSTRAINT "asset_exif_pkey" PRIMARY KEY ("assetId"),
  CONSTRAINT "asset_exif_assetId_fkey" FOREIGN KEY ("assetId") REFERENCES "asset" ("id") ON DELETE CASCADE
);
CREATE INDEX "asset_exif_city_idx" ON "asset_exif" ("city");
CREATE INDEX "asset_exif_livePhotoCID_idx" ON "asset_exif" ("livePhotoCID");
CREATE INDEX "asset_exif_autoStackId_idx" ON "asset_exif" ("autoStackId");
CREATE INDEX "asset_exif_updateId_idx" ON "asset_exif" ("updateId");
CREATE INDEX "IDX_asset_exif_gist_earthcoord" ON "asset_exif" USING gist (ll_to_earth_public(latitude, longitude));
CREATE TRIGGER "asset_exif_updatedAt" BEFORE UPDATE ON "asset_exif" FOR EACH ROW EXECUTE FUNCTION updated_at();

-- asset_file ("asset_files"): server/src/schema/tables/asset-file.table.ts @ 71e74a5fe679c1b54706ed6fd4bdbe9972e0f1a5,
-- types from 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf,
-- names from 1752267649968-StandardizeNames.ts @ 9065097617234073831d47b0be427e4f16784322.
-- "type" is a plain character varying, as upstream has it: no database enum and no CHECK; the
-- values are the AssetFileType enum of server/src/enum.ts (@ 0105c9e2b68b3f6aaa65e247a33c8f4192da273a:
-- 'fullsize', 'preview', 'thumbnail'; v3-era adds 'sidecar' (SidecarInAssetFile) and
-- 'encoded_video'). v3-era, commit not pinned: isEdited with the unique constraint over
-- (assetId, type, isEdited) (the AddEditedColumnAssetFiles work), isProgressive, isTransparent.
CREATE TABLE "asset_file" (
  "id" uuid NOT NULL DEFAULT uuid_generate_v4(),
  "assetId" uuid NOT NULL,
  "createdAt" timestamp with time zone NOT NULL DEFAULT now(),
  "updatedAt" timestamp with time zone NOT NULL DEFAULT now(),
  "type" character varying NOT NULL,
  "path" character varying NOT NULL,
  "updateId" uuid NOT NULL DEFAULT immich_uuid_v7(),
  "isEdited" boolean NOT NULL DEFAULT false,
  "isProgressive" boolean NOT NULL DEFAULT false,
  "isTransparent" boolean NOT NULL DEFAULT false,
  CONSTRAINT "asset_file_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "asset_file_assetId_type_isEdited_uq" UNIQUE ("assetId", "type", "isEdited"),
  CONSTRAINT "asset_file_assetId_fkey" FOREIGN KEY ("assetId") REFERENCES "asset" ("id") ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX "asset_file_assetId_idx" ON "asset_file" ("assetId");
CREATE INDEX "asset_file_updateId_idx" ON "asset_file" ("updateId");
CREATE TRIGGER "asset_file_updatedAt" BEFORE UPDATE ON "asset_file" FOR EACH ROW EXECUTE FUNCTION updated_at();

-- person: server/src/schema/tables/person.table.ts @ 0425fd90faca11f52ad0596c51690c49171e49a0,
-- types from 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf,
-- names from 1752267649968-StandardizeNames.ts @ 9065097617234073831d47b0be427e4f16784322.
-- Its FK to asset_face comes after asset_face.
CREATE TABLE "person" (
  "id" uuid NOT NULL DEFAULT uuid_generate_v4(),
  "createdAt" timestamp with time zone NOT NULL DEFAULT now(),
  "updatedAt" timestamp with time zone NOT NULL DEFAULT now(),
  "ownerId" uuid NOT NULL,
  "name" character varying NOT NULL DEFAULT '',
  "thumbnailPath" character varying NOT NULL DEFAULT '',
  "isHidden" boolean NOT NULL DEFAULT false,
  "birthDate" date,
  "faceAssetId" uuid,
  "isFavorite" boolean NOT NULL DEFAULT false,
  "color" character varying,
  "updateId" uuid NOT NULL DEFAULT immich_uuid_v7(),
  CONSTRAINT "person_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "person_birthDate_chk" CHECK ("birthDate" <= CURRENT_DATE),
  CONSTRAINT "person_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "user" ("id") ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX "person_ownerId_idx" ON "person" ("ownerId");
CREATE INDEX "person_faceAssetId_idx" ON "person" ("faceAssetId");
CREATE INDEX "person_updateId_idx" ON "person" ("updateId");
CREATE TRIGGER "person_updatedAt" BEFORE UPDATE ON "person" FOR EACH ROW EXECUTE FUNCTION updated_at();

-- asset_face ("asset_faces"): server/src/schema/tables/asset-face.table.ts @ da83939a0a782c63abd3f5a3cdad33e15158edda,
-- types from 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf,
-- names from 1752267649968-StandardizeNames.ts @ 9065097617234073831d47b0be427e4f16784322,
-- the single-column indexes dropped by 1746636476623-DropExtraIndexes.ts @ 20d36421e6b3c8ba97616bdad49506a7340c055f,
-- updatedAt and updateId from 1753104909784-AssetFaceUpdateIdAndAuditTable.ts @ 52605e82da96c05d9c871c80607ccbeb5a69b4fd.
-- v3-era, commit not pinned: isVisible and the partial index over visible, undeleted faces.
CREATE TABLE "asset_face" (
  "assetId" uuid NOT NULL,
  "personId" uuid,
  "imageWidth" integer NOT NULL DEFAULT 0,
  "imageHeight" integer NOT NULL DEFAULT 0,
  "boundingBoxX1" integer NOT NULL DEFAULT 0,
  "boundingBoxY1" integer NOT NULL DEFAULT 0,
  "boundingBoxX2" integer NOT NULL DEFAULT 0,
  "boundingBoxY2" integer NOT NULL DEFAULT 0,
  "id" uuid NOT NULL DEFAULT uuid_generate_v4(),
  "sourceType" sourcetype NOT NULL DEFAULT 'machine-learning',
  "deletedAt" timestamp with time zone,
  "updatedAt" timestamp with time zone NOT NULL DEFAULT now(),
  "updateId" uuid NOT NULL DEFAULT immich_uuid_v7(),
  "isVisible" boolean NOT NULL DEFAULT true,
  CONSTRAINT "asset_face_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "asset_face_assetId_fkey" FOREIGN KEY ("assetId") REFERENCES "asset" ("id") ON UPDATE CASCADE ON DELETE CASCADE,
  CONSTRAINT "asset_face_personId_fkey" FOREIGN KEY ("personId") REFERENCES "person" ("id") ON UPDATE CASCADE ON DELETE SET NULL
);
CREATE INDEX "asset_face_personId_assetId_idx" ON "asset_face" ("personId", "assetId");
CREATE INDEX "asset_face_assetId_personId_idx" ON "asset_face" ("assetId", "personId");
CREATE INDEX "asset_face_personId_assetId_notDeleted_isVisible_idx" ON "asset_face" ("personId", "assetId")
  WHERE ("deletedAt" IS NULL AND "isVisible" IS TRUE);
CREATE TRIGGER "asset_face_updatedAt" BEFORE UPDATE ON "asset_face" FOR EACH ROW EXECUTE FUNCTION updated_at();
ALTER TABLE "person" ADD CONSTRAINT "person_faceAssetId_fkey" FOREIGN KEY ("faceAssetId") REFERENCES "asset_face" ("id") ON DELETE SET NULL;

-- face_search (one 512-dimension face embedding per asset_face, keyed by faceId):
-- server/src/schema/tables/face-search.table.ts @ 4211ce9e789a070264347fabd69af49cb2929b3d and
-- 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf. The index is
-- vectorIndexQuery() for DatabaseExtension.Vector in server/src/utils/database.ts @ 0093b65c50e8ae88ad328e02106ea0771ddc047b.
CREATE TABLE "face_search" (
  "faceId" uuid NOT NULL,
  "embedding" vector(512) NOT NULL,
  CONSTRAINT "face_search_pkey" PRIMARY KEY ("faceId"),
  CONSTRAINT "face_search_faceId_fkey" FOREIGN KEY ("faceId") REFERENCES "asset_face" ("id") ON DELETE CASCADE
);
CREATE INDEX face_index ON face_search USING hnsw (embedding vector_cosine_ops) WITH (ef_construction = 300, m = 16);

-- smart_search (one 512-dimension CLIP embedding per asset): server/src/schema/tables/smart-search.table.ts
-- @ 731f6211e993c5ed6cd0e8b892adf91eaf07d086 (the clip_index, storage external) and
-- 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf; the index as
-- vectorIndexQuery() in server/src/utils/database.ts @ 0093b65c50e8ae88ad328e02106ea0771ddc047b.
CREATE TABLE "smart_search" (
  "assetId" uuid NOT NULL,
  "embedding" vector(512) NOT NULL,
  CONSTRAINT "smart_search_pkey" PRIMARY KEY ("assetId"),
  CONSTRAINT "smart_search_assetId_fkey" FOREIGN KEY ("assetId") REFERENCES "asset" ("id") ON DELETE CASCADE
);
ALTER TABLE "smart_search" ALTER COLUMN "embedding" SET STORAGE EXTERNAL;
CREATE INDEX clip_index ON smart_search USING hnsw (embedding vector_cosine_ops) WITH (ef_construction = 300, m = 16);

-- system_metadata: server/src/schema/tables/system-metadata.table.ts @ 5bb4ce2b425ed6681b817d07e5dfc95d00e24887,
-- 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf,
-- 1752267649968-StandardizeNames.ts @ 9065097617234073831d47b0be427e4f16784322. Keys are
-- SystemMetadataKey in server/src/enum.ts (@ 0105c9e2b68b3f6aaa65e247a33c8f4192da273a).
CREATE TABLE "system_metadata" (
  "key" character varying NOT NULL,
  "value" jsonb NOT NULL,
  CONSTRAINT "system_metadata_pkey" PRIMARY KEY ("key")
);

-- geodata_places (geonames cities500, loaded by Immich on first start):
-- server/src/schema/tables/geodata-places.table.ts @ 51031e8449e9cfc05d2587bf4a9e2da492233d32,
-- 1744910873969-InitialMigration.ts @ 1549980417419ba20050e7b803accf64b39da7cf (columns,
-- IDX_geodata_gist_earthcoord on ll_to_earth_public, the four trigram indexes),
-- 1752161055253-RenameGeodataPKConstraint.ts @ 52605e82da96c05d9c871c80607ccbeb5a69b4fd (the
-- primary key's name). The earth-coordinate index is gist, as in v3-era databases.
CREATE TABLE "geodata_places" (
  "id" integer NOT NULL,
  "name" character varying(200) NOT NULL,
  "longitude" double precision NOT NULL,
  "latitude" double precision NOT NULL,
  "countryCode" character(2) NOT NULL,
  "admin1Code" character varying(20),
  "admin2Code" character varying(80),
  "modificationDate" date NOT NULL,
  "admin1Name" character varying,
  "admin2Name" character varying,
  "alternateNames" character varying,
  CONSTRAINT "geodata_places_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "IDX_geodata_gist_earthcoord" ON "geodata_places" USING gist (ll_to_earth_public(latitude, longitude));
CREATE INDEX "idx_geodata_places_name" ON "geodata_places" USING gin (f_unaccent("name") gin_trgm_ops);
CREATE INDEX "idx_geodata_places_admin2_name" ON "geodata_places" USING gin (f_unaccent("admin2Name") gin_trgm_ops);
CREATE INDEX "idx_geodata_places_admin1_name" ON "geodata_places" USING gin (f_unaccent("admin1Name") gin_trgm_ops);
CREATE INDEX "idx_geodata_places_alternate_names" ON "geodata_places" USING gin (f_unaccent("alternateNames") gin_trgm_ops);

-- kysely_migrations and kysely_migrations_lock: the tables of Kysely's Migrator (the kysely
-- package, 0.28 in server/package.json @ 001ea25cd83710d2fb6a0db7e4500d66a353e1ae), which
-- Immich's DatabaseRepository runs on start; the `migrations` of index.ts @ 017478c39cdf9a8c6dbdb259fdf0edb8c9c77650
-- types kysely_migrations as { name, timestamp }. One row per migration that ran, named after
-- its file in server/src/schema/migrations/.
CREATE TABLE "kysely_migrations" (
  "name" character varying(255) NOT NULL,
  "timestamp" character varying(255) NOT NULL,
  CONSTRAINT "kysely_migrations_pkey" PRIMARY KEY ("name")
);
CREATE TABLE "kysely_migrations_lock" (
  "id" character varying(255) NOT NULL,
  "is_locked" integer NOT NULL DEFAULT 0,
  CONSTRAINT "kysely_migrations_lock_pkey" PRIMARY KEY ("id")
);
INSERT INTO "kysely_migrations_lock" ("id", "is_locked") VALUES ('migration_lock', 0);

-- NOT the full list: a realistic subset of upstream's migrations (the names of files in
-- server/src/schema/migrations/ of immich-app/immich, e.g. 1744910873969-InitialMigration.ts
-- @ 1549980417419ba20050e7b803accf64b39da7cf, 1752267649968-StandardizeNames.ts @ 9065097617234073831d47b0be427e4f16784322).
-- A real v3.2.2 database has more rows, including the v3-era migrations after these (the
-- device-id removal, checksumAlgorithm, ...), whose file names were not available.
-- Applied on a first start at 2026-03-02T09:14:07Z, a few milliseconds apart.
INSERT INTO "kysely_migrations" ("name", "timestamp")
SELECT name, to_char(timestamptz '2026-03-02 09:14:07.312+00' + ordinality * interval '9 milliseconds',
                     'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
FROM unnest(ARRAY[
  '1744910873969-InitialMigration',
  '1744991379464-AddNotificationsTable',
  '1745244781846-AddUserAvatarColorColumn',
  '1745902563899-AddAssetVisibilityColumn',
  '1746636476623-DropExtraIndexes',
  '1746844028242-AddLockedVisibilityEnum',
  '1746987967923-AddPinExpiresAtColumn',
  '1747329504572-AddNewSessionColumns',
  '1747338664832-SessionRename',
  '1747664684909-AddAlbumAuditTables',
  '1749067526135-UserOnboardingDefault',
  '1750107668827-PartnerCreateId',
  '1750189909087-AddAlbumUserCreateFields',
  '1750323941566-UnsetPrewarmDimParameter',
  '1750676477029-AlbumAssetUpdateId',
  '1750694237564-AlbumAssetAuditTable',
  '1751035357937-MemorySyncChanges',
  '1751304834247-StackSyncChanges',
  '1751924596408-AddOverrides',
  '1752004072340-UpdateIndexOverrides',
  '1752152941084-PeopleAuditTable',
  '1752161055253-RenameGeodataPKConstraint',
  '1752169992364-AddIsPendingSyncReset',
  '1752250924342-UserMetadataSync',
  '1752267649968-StandardizeNames',
  '1752759108283-ConvertToAbsolutePaths',
  '1753104909784-AssetFaceUpdateIdAndAuditTable',
  '1753800911775-ProfileImageCheckpointRemoval',
  '1754389095885-ResetAlbumAssetSync',
  '1755984055382-SidecarInAssetFile',
  '1756318797207-AssetMetadataTables',
  '1758705774125-CreateAssetOCRTable',
  '1758705789125-CreateOCRSearchTable',
  '1762297277677-AddPluginAndWorkflowTables',
  '1763785815996-AddAssetWidthHeight',
  '1764041175465-CreateAssetEditTable',
  '1764246650423-CreateIntegrityReportTable'
]) WITH ORDINALITY AS m (name, ordinality);
