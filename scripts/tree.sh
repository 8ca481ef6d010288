#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Maintain the kernel tree we build: Debian's linux-source-6.12 extracted into
# build/linux, made a git repository whose first commit is the pristine base,
# with patches/ applied on top as commits (git am) and our overlay files copied
# in. Only files whose content changed are rewritten, so kbuild rebuilds
# incrementally.
#
#   tree.sh prepare   extract + base commit (only if missing or base changed)
#   tree.sh sync      apply patches (if the series changed) + copy overlay
#   tree.sh save      write the tree's commits on top of base back to patches/
set -euo pipefail
. "$(dirname "$0")/lib.sh"

STAMP_BASE=$B/stamps/base
STAMP_PATCHES=$B/stamps/patches
MANIFEST=$B/stamps/overlay-manifest

base_id() {
	dpkg-query -W -f='${Package} ${Version}\n' linux-source-6.12 2>/dev/null ||
		stat -c '%s %Y' "$SRC_TARBALL"
}

prepare() {
	local want have=""
	[ -f "$SRC_TARBALL" ] || die "$SRC_TARBALL missing: run scripts/deps.sh"
	want=$(base_id)
	[ -f "$STAMP_BASE" ] && have=$(cat "$STAMP_BASE")
	if [ -d "$TREE/.git" ] && [ "$have" = "$want" ]; then
		return 0
	fi
	log "extracting $SRC_TARBALL ($want)"
	rm -rf "$TREE" "$B/stamps" "$B"/obj-*
	mkdir -p "$B/stamps" "$B/extract.tmp"
	tar -xf "$SRC_TARBALL" -C "$B/extract.tmp"
	mv "$B"/extract.tmp/linux-source-6.12 "$TREE"
	rmdir "$B/extract.tmp"
	# Debian's tarball appends a block to .gitignore that ignores the whole
	# tree (it is meant for packaging). Drop it so git sees kernel sources.
	sed -i '/^# Debian packaging/,$d' "$TREE/.gitignore"
	git -C "$TREE" init -q -b kmbuf
	git -C "$TREE" config user.name "kmbuf developers"
	git -C "$TREE" config user.email "kmbuf-dev@example.invalid"
	git -C "$TREE" config core.compression 0
	git -C "$TREE" config gc.auto 0
	git -C "$TREE" add -A
	git -C "$TREE" commit -q -m "base: Debian linux-source-6.12 $want"
	git -C "$TREE" tag -f base >/dev/null
	echo "$want" > "$STAMP_BASE"
	grep -E '^(VERSION|PATCHLEVEL|SUBLEVEL) =' "$TREE/Makefile" | tr '\n' ' '
	echo
}

patches_hash() {
	(cd "$KMBUF_TOP/patches" && cat series $(grep -v '^\s*\(#\|$\)' series) 2>/dev/null) |
		sha1sum | cut -d' ' -f1
}

apply_patches() {
	local want have="" p n=0
	want=$(patches_hash)
	[ -f "$STAMP_PATCHES" ] && have=$(cat "$STAMP_PATCHES")
	[ "$want" = "$have" ] && return 0

	if ! git -C "$TREE" diff --quiet HEAD; then
		git -C "$TREE" status --short --untracked-files=no | head -20 >&2
		die "build/linux has uncommitted edits to kernel files; commit them in the tree and run 'make save-patches', or discard them with 'git -C build/linux checkout -- .'"
	fi
	log "applying patches/series"
	git -C "$TREE" am --abort >/dev/null 2>&1 || true
	git -C "$TREE" reset -q --hard base
	# Overlay copies are not the tree's: a file that a patch now creates
	# (it used to be an overlay file) would stop git am.  They are copied
	# again after the patches.
	if [ -f "$MANIFEST" ]; then
		while read -r f; do
			git -C "$TREE" cat-file -e "base:$f" 2>/dev/null || rm -f "$TREE/$f"
		done < "$MANIFEST"
		rm -f "$MANIFEST"
	fi
	while read -r p; do
		case "$p" in ''|'#'*) continue ;; esac
		[ -f "$KMBUF_TOP/patches/$p" ] || die "patches/series names $p, which does not exist"
		if ! git -C "$TREE" am -q --keep-cr "$KMBUF_TOP/patches/$p" >"$B/stamps/am.log" 2>&1; then
			git -C "$TREE" am --abort >/dev/null 2>&1 || true
			sed 's/^/    /' "$B/stamps/am.log" >&2
			die "patch $p does not apply to $(cat "$STAMP_BASE"); it must be rebased"
		fi
		n=$((n + 1))
	done < "$KMBUF_TOP/patches/series"
	echo "$want" > "$STAMP_PATCHES"
	log "applied $n patches"
}

# Copy overlay files whose content differs; remove ones we copied earlier and
# that no longer exist in the project.
sync_overlay() {
	local f new=$B/stamps/overlay-manifest.new copied=0
	(cd "$KMBUF_TOP" && git ls-files -co --exclude-standard -- $OVERLAY_DIRS) |
		sort > "$new"
	while read -r f; do
		[ -f "$KMBUF_TOP/$f" ] || continue
		if git -C "$TREE" cat-file -e "base:$f" 2>/dev/null; then
			die "$f exists in the base kernel: change it with a patch in patches/, not as an overlay file"
		fi
		if ! cmp -s "$KMBUF_TOP/$f" "$TREE/$f"; then
			mkdir -p "$(dirname "$TREE/$f")"
			cp "$KMBUF_TOP/$f" "$TREE/$f"
			copied=$((copied + 1))
		fi
	done < "$new"
	if [ -f "$MANIFEST" ]; then
		comm -23 "$MANIFEST" "$new" | while read -r f; do
			# gone from the overlay because a patch has it now
			git -C "$TREE" cat-file -e "HEAD:$f" 2>/dev/null && continue
			rm -f "$TREE/$f"
			echo "removed $f"
		done
	fi
	mv "$new" "$MANIFEST"
	[ $copied -eq 0 ] || log "overlay: $copied file(s) updated"
}

save() {
	[ "$(patches_hash)" = "$(cat "$STAMP_PATCHES" 2>/dev/null)" ] ||
		die "patches/ changed since the tree was synced; run 'make tree' first"
	git -C "$TREE" diff --quiet HEAD ||
		die "commit your edits in build/linux first (git -C build/linux commit -a)"
	local old
	old=$(grep -v '^\s*\(#\|$\)' "$KMBUF_TOP/patches/series" || true)
	(cd "$KMBUF_TOP/patches" && rm -f $old)
	git -C "$TREE" format-patch -q --no-signature --zero-commit -N \
		-o "$KMBUF_TOP/patches" base..HEAD
	(cd "$KMBUF_TOP/patches" && ls [0-9]*.patch) > "$KMBUF_TOP/patches/series"
	patches_hash > "$STAMP_PATCHES"
	log "wrote $(wc -l < "$KMBUF_TOP/patches/series") patches to patches/"
}

case "${1:-}" in
prepare) prepare ;;
sync) prepare; apply_patches; sync_overlay ;;
save) save ;;
*) die "usage: $0 prepare|sync|save" ;;
esac
