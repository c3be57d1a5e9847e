# Cross build for 64-bit ARM Linux with Debian's cross compiler, tests run under qemu:
#
#   apt-get install -y gcc-aarch64-linux-gnu qemu-user
#   dpkg --add-architecture arm64 && apt-get update && apt-get install -y libcmocka-dev:arm64
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#   cmake --build build-arm64 -j2 && ctest --test-dir build-arm64 -R '^test_ops$'
#
# .ci/portability.sh does all of that, and runs every test that can run under qemu
# (the shell-script tests with each ARM program through it). CTest starts a test
# program through CMAKE_CROSSCOMPILING_EMULATOR: -L gives qemu the ARM dynamic loader
# and C library of the cross toolchain, and LD_LIBRARY_PATH makes that loader take the
# C library from there too. Without it the loader follows the host's cache to
# libc6:arm64 (which libcmocka-dev:arm64 installs), another build of glibc than its
# own, and a program hangs in its first pthread_create.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# ARM libraries (cmocka from libcmocka-dev:arm64) are in Debian's multiarch directories;
# never pick up an x86-64 one from the host.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

find_program(AG_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(NOT AG_QEMU_AARCH64)
  message(FATAL_ERROR "qemu-aarch64 not found: apt-get install -y qemu-user")
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${AG_QEMU_AARCH64} -L /usr/aarch64-linux-gnu
    -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib)
