"""Tests for lapenna_labs.camera: the RC car's pinhole camera, road homography and frame budget.

Every reference is computed here, independently of the module: pixels by hand from
``u = cx + fx x / z``, the optical axis hitting the road at ``h / tan(tilt)``, the ray
back-projected through ``K^-1`` and ``R^T`` and cut with the plane ``Z = 0``, the roofline
from hand numbers and the datasheets' core counts and clocks, and a fake clock for the
frame rate.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lapenna_labs import camera
from lapenna_labs.blas import cuda_available

# The course's car: 640 x 480, 70 degrees across, 20 cm up, pitched 12 degrees down.
WIDTH, HEIGHT = 640, 480
HFOV = math.radians(70.0)
CAM_HEIGHT, TILT = 0.20, math.radians(12.0)

heights = st.floats(0.05, 3.0)
tilts = st.floats(0.02, 1.4)
focals = st.floats(100.0, 2000.0)


def car_camera(height=CAM_HEIGHT, tilt=TILT, focal=None):
    """K, R, t, P, H of a camera; the focal length from the field of view unless given."""
    if focal is None:
        K = camera.intrinsics_from_fov(WIDTH, HEIGHT, HFOV)
    else:
        K = camera.intrinsic_matrix(focal, focal, WIDTH / 2, HEIGHT / 2)
    R, t = camera.camera_pose(height, tilt)
    return K, R, t, camera.projection_matrix(K, R, t), camera.ground_homography(K, R, t)


def ray_meets_road(K, R, height, uv):
    """Where the rays through pixels uv (n, 2) meet Z = 0: C + s R^T K^-1 (u, v, 1)."""
    rays_cam = np.linalg.inv(K) @ np.column_stack([uv, np.ones(len(uv))]).T  # (3, n)
    rays_world = R.T @ rays_cam  # camera frame -> world frame: R^-1 = R^T
    centre = np.array([[0.0], [0.0], [height]])
    s = -height / rays_world[2]  # Z(C + s d) = h + s d_z = 0
    assert np.all(s > 0), "the ray must meet the road ahead of the camera"
    return (centre + s * rays_world)[:2].T


class TestIntrinsics:
    def test_hand_computed_pixels_of_a_camera_at_the_origin(self):
        K = camera.intrinsic_matrix(800.0, 600.0, 320.0, 240.0)
        P = camera.projection_matrix(K, np.eye(3), np.zeros(3))
        np.testing.assert_array_equal(P, [[800, 0, 320, 0], [0, 600, 240, 0], [0, 0, 1, 0]])
        points = np.array([[0.0, 0.0, 7.0], [0.5, 0.0, 2.0], [0.0, -0.3, 3.0], [1.0, 2.0, 4.0]])
        expected = np.array(
            [
                [320.0, 240.0],  # on the optical axis: the principal point, at any depth
                [320.0 + 800.0 * 0.5 / 2.0, 240.0],  # u = cx + fx X / Z = 520
                [320.0, 240.0 - 600.0 * 0.3 / 3.0],  # v = cy + fy Y / Z = 180
                [320.0 + 800.0 / 4.0, 240.0 + 600.0 * 2.0 / 4.0],  # (520, 540)
            ]
        )
        np.testing.assert_allclose(camera.project_points(P, points), expected, rtol=1e-12)
        np.testing.assert_allclose(camera.project_points(P, points[1]), expected[1])

    def test_field_of_view_puts_its_edge_rays_on_the_image_edges(self):
        for hfov_deg in (30.0, 70.0, 120.0):
            hfov = math.radians(hfov_deg)
            K = camera.intrinsics_from_fov(WIDTH, HEIGHT, hfov)
            f = K[0, 0]
            assert K[1, 1] == pytest.approx(f)  # square pixels
            assert (K[0, 2], K[1, 2]) == (WIDTH / 2, HEIGHT / 2)
            P = camera.projection_matrix(K, np.eye(3), np.zeros(3))
            # Rays at +-hfov/2 from the axis, in the horizontal plane, hit u = 0 and u = width.
            half = math.tan(hfov / 2)
            edges = camera.project_points(P, [[-half, 0.0, 1.0], [half, 0.0, 1.0]])
            np.testing.assert_allclose(edges[:, 0], [0.0, WIDTH], atol=1e-9)
        # The draft's car: f = 320 / tan(35 deg) = 457.01 pixels.
        K = camera.intrinsics_from_fov(WIDTH, HEIGHT, HFOV)
        assert K[0, 0] == pytest.approx(320.0 / math.tan(math.radians(35.0)))
        assert K[0, 0] == pytest.approx(457.0, abs=0.05)


class TestPose:
    def test_the_drafts_formula(self):
        R, t = camera.camera_pose(CAM_HEIGHT, TILT)
        s, c = math.sin(TILT), math.cos(TILT)
        np.testing.assert_allclose(R, [[1, 0, 0], [0, -s, -c], [0, c, -s]])
        assert t.shape == (3,)
        np.testing.assert_allclose(t, [0.0, CAM_HEIGHT * c, CAM_HEIGHT * s])

    @settings(max_examples=50, deadline=None)
    @given(height=heights, tilt=st.floats(0.0, math.pi / 2))
    def test_rotation_whose_rows_are_the_camera_axes(self, height, tilt):
        R, t = camera.camera_pose(height, tilt)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0)
        right, down, axis = R
        np.testing.assert_allclose(right, [1.0, 0.0, 0.0])
        # The optical axis points forward (+Y) and down (-Z) by the tilt, with no sideways part.
        assert axis[0] == 0.0 and axis[1] >= -1e-12
        assert math.atan2(-axis[2], axis[1]) == pytest.approx(tilt, abs=1e-12)
        # Image-down is perpendicular to both, in the Y-Z plane, pointing down (or backwards
        # once the camera looks straight down).
        assert abs(down @ axis) < 1e-12 and down[0] == 0.0 and down[2] <= 1e-12
        # The camera centre -R^T t is (0, 0, h).
        np.testing.assert_allclose(-R.T @ t, [0.0, 0.0, height], atol=1e-12)

    def test_image_down_is_mostly_down_for_a_small_tilt(self):
        R, _ = camera.camera_pose(CAM_HEIGHT, TILT)
        assert R[1, 2] == pytest.approx(-math.cos(TILT)) and R[1, 2] < -0.97

    @settings(max_examples=50, deadline=None)
    @given(height=heights, tilt=tilts, focal=focals)
    def test_the_optical_axis_meets_the_road_at_h_over_tan_tilt(self, height, tilt, focal):
        K, _, _, P, _ = car_camera(height, tilt, focal)
        ahead = height / math.tan(tilt)  # right triangle: height h, angle tilt at the camera
        pixel = camera.project_points(P, [[0.0, ahead, 0.0]])
        np.testing.assert_allclose(pixel, [[K[0, 2], K[1, 2]]], atol=1e-6)

    def test_a_column_t_works_as_well(self):
        K, R, t, P, H = car_camera()
        np.testing.assert_allclose(camera.projection_matrix(K, R, t[:, None]), P)
        np.testing.assert_allclose(camera.ground_homography(K, R, t[:, None]), H)


class TestProjectionAndHomography:
    def test_the_homography_is_P_without_its_third_column(self):
        K, R, t, P, H = car_camera()
        np.testing.assert_allclose(H, P[:, [0, 1, 3]], rtol=1e-12)
        np.testing.assert_allclose(H, K @ np.column_stack([R[:, 0], R[:, 1], t]))

    @settings(max_examples=50, deadline=None)
    @given(height=heights, tilt=tilts, focal=focals, seed=st.integers(0, 2**16))
    def test_ground_points_through_H_and_P_and_back(self, height, tilt, focal, seed):
        _, _, _, P, H = car_camera(height, tilt, focal)
        rng = np.random.default_rng(seed)
        # Road points ahead of the camera's foot (depth > 0 needs Y > -h tan(tilt)).
        xy = rng.uniform([-3.0, 0.05], [3.0, 30.0], size=(20, 2))
        via_H = camera.ground_to_pixel(H, xy)
        via_P = camera.project_points(P, np.column_stack([xy, np.zeros(len(xy))]))
        np.testing.assert_allclose(via_H, via_P, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(camera.pixel_to_ground(H, via_H), xy, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(camera.ground_to_pixel(H, xy[0]), via_H[0])

    @settings(max_examples=50, deadline=None)
    @given(height=heights, tilt=tilts, focal=focals, seed=st.integers(0, 2**16))
    def test_pixel_to_ground_is_the_back_projected_ray_cut_with_the_road(
        self, height, tilt, focal, seed
    ):
        K, R, _, _, H = car_camera(height, tilt, focal)
        horizon = K[1, 2] - focal * math.tan(tilt)
        rng = np.random.default_rng(seed)
        uv = np.column_stack(
            [rng.uniform(0, WIDTH, 20), rng.uniform(max(horizon, -1e4) + 5.0, horizon + 4e3, 20)]
        )
        np.testing.assert_allclose(
            camera.pixel_to_ground(H, uv), ray_meets_road(K, R, height, uv), rtol=1e-7, atol=1e-9
        )

    def test_points_behind_the_camera_are_refused(self):
        _, _, _, P, H = car_camera()
        with pytest.raises(ValueError, match=r"project_points: points\[1\] is at or behind"):
            camera.project_points(P, [[0.0, 5.0, 0.0], [0.0, -5.0, 0.2]])
        # On the road, behind the camera's foot by more than h tan(tilt): depth < 0.
        with pytest.raises(ValueError, match=r"ground_to_pixel: xy\[0\] is a road point at or"):
            camera.ground_to_pixel(H, [[0.0, -1.0]])
        # The camera centre itself has depth 0.
        with pytest.raises(ValueError, match="at or behind the camera"):
            camera.project_points(P, [0.0, 0.0, CAM_HEIGHT])

    def test_a_mirrored_camera_still_tells_front_from_back(self):
        # -P is the same camera (P is homogeneous); the depth's sign comes from det M.
        _, _, _, P, _ = car_camera()
        points = [[0.3, 4.0, 0.1]]
        np.testing.assert_allclose(
            camera.project_points(-P, points), camera.project_points(P, points)
        )
        with pytest.raises(ValueError, match="behind"):
            camera.project_points(-P, [[0.0, -5.0, 0.2]])


class TestHorizon:
    @settings(max_examples=40, deadline=None)
    @given(height=heights, tilt=tilts, focal=focals)
    def test_the_vanishing_point_of_the_road_is_on_the_horizon_row(self, height, tilt, focal):
        K, _, _, P, H = car_camera(height, tilt, focal)
        horizon = K[1, 2] - focal * math.tan(tilt)  # the row at angle -tilt from the axis
        vanishing = P @ [0.0, 1.0, 0.0, 0.0]  # the point at infinity straight ahead
        assert vanishing[1] / vanishing[2] == pytest.approx(horizon, rel=1e-9, abs=1e-6)
        assert vanishing[0] / vanishing[2] == pytest.approx(K[0, 2], abs=1e-6)
        # The horizon line is the third row of H^-1 (the image of the line at infinity).
        line = np.linalg.inv(H)[2]
        for u in (0.0, 333.0, WIDTH):
            assert line @ [u, horizon, 1.0] == pytest.approx(0.0, abs=1e-9 * np.abs(line).sum())

    def test_far_road_points_approach_the_horizon_and_pixels_above_it_are_refused(self):
        K, _, _, P, H = car_camera()
        horizon = K[1, 2] - K[1, 1] * math.tan(TILT)
        far = camera.project_points(P, [[-0.3, 1e5, 0.0], [0.3, 1e5, 0.0]])
        np.testing.assert_allclose(far[:, 1], horizon, atol=1e-3)
        np.testing.assert_allclose(far[:, 0], K[0, 2], atol=1e-2)  # two lanes meet
        just_below = camera.pixel_to_ground(H, [[100.0, horizon + 1e-3]])
        assert just_below[0, 1] > 1e3  # a pixel a hair below the horizon is very far
        for v in (horizon, horizon - 1.0, 0.0):
            with pytest.raises(ValueError, match=r"pixel_to_ground: uv\[1\] = .* at or above the"):
                camera.pixel_to_ground(H, [[320.0, 400.0], [320.0, v]])


class TestDistanceFromBox:
    @settings(max_examples=60, deadline=None)
    @given(
        height=heights,
        tilt=tilts,
        focal=focals,
        ahead=st.floats(0.3, 25.0),
        side=st.floats(-2.0, 2.0),
    )
    def test_a_road_point_placed_at_a_known_distance_is_read_back(
        self, height, tilt, focal, ahead, side
    ):
        K, R, _, P, H = car_camera(height, tilt, focal)
        u, v = camera.project_points(P, [side, ahead, 0.0])
        box = np.array([u - 20.0, v - 50.0, u + 20.0, v])  # bottom edge through the point
        distance = camera.distance_from_box(box, K, height, tilt)
        assert isinstance(distance, float)
        assert distance == pytest.approx(ahead, rel=1e-7)
        # The same pixel's ray, back-projected through K^-1 and R^T and cut with Z = 0.
        ray_xy = ray_meets_road(K, R, height, np.array([[u, v]]))[0]
        assert distance == pytest.approx(ray_xy[1], rel=1e-7)
        np.testing.assert_allclose(ray_xy, [side, ahead], rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(camera.pixel_to_ground(H, [u, v])[1], ahead, rtol=1e-7)

    def test_the_drafts_obstacle_two_metres_ahead(self):
        K, _, _, P, H = car_camera()
        corners = np.array(
            [
                [0.05 + dx, 2.0 + dy, dz]
                for dx in (-0.125, 0.125)
                for dy in (0.0, 0.3)
                for dz in (0.0, 0.15)
            ]
        )
        px = camera.project_points(P, corners)
        box = np.r_[px.min(axis=0), px.max(axis=0)]
        assert camera.distance_from_box(box, K, CAM_HEIGHT, TILT) == pytest.approx(2.0)
        middle_bottom = [(box[0] + box[2]) / 2, box[3]]
        assert camera.pixel_to_ground(H, middle_bottom)[1] == pytest.approx(2.0)

    def test_several_boxes_and_hand_angles(self):
        # fx != fy: only fy (and cy) may enter the distance.
        K = camera.intrinsic_matrix(300.0, 100.0, 50.0, 40.0)
        # Rows at 0, 15 and 30 degrees below the axis of a camera pitched 30 degrees down.
        rows = 40.0 + 100.0 * np.tan(np.radians([0.0, 15.0, 30.0]))
        boxes = np.column_stack([np.zeros(3), rows - 5.0, np.full(3, 9.0), rows])
        distances = camera.distance_from_box(boxes, K, 1.5, math.radians(30.0))
        assert distances.shape == (3,)
        expected = 1.5 / np.tan(np.radians([30.0, 45.0, 60.0]))
        np.testing.assert_allclose(distances, expected, rtol=1e-12)
        # Straight down: distance 0; steeper (behind the foot): negative.
        down = 40.0 + 100.0 * math.tan(math.radians(60.0))
        assert camera.distance_from_box([0, 0, 1, down], K, 1.5, math.radians(30.0)) == 0.0
        beyond = 40.0 + 100.0 * math.tan(math.radians(70.0))
        assert camera.distance_from_box([0, 0, 1, beyond], K, 1.5, math.radians(30.0)) < 0

    def test_a_bottom_edge_at_or_above_the_horizon_is_refused(self):
        K, *_ = car_camera()
        horizon = K[1, 2] - K[1, 1] * math.tan(TILT)
        for v in (horizon, horizon - 10.0):
            with pytest.raises(ValueError, match=r"box\[1\] is at or above the horizon row"):
                camera.distance_from_box([[0, 0, 5, 400], [0, v - 9, 5, v]], K, CAM_HEIGHT, TILT)


class TestMeasureFps:
    def test_fake_clock_gives_exact_rates(self, monkeypatch):
        # Each call of the frame advances a fake clock by 10 ms: the median is exactly 0.01 s.
        clock = {"now": 100.0}
        monkeypatch.setattr(time, "perf_counter", lambda: clock["now"])
        calls = []

        def frame(x, y):
            calls.append((x, y))
            clock["now"] += 0.010 if len(calls) != 4 else 0.050  # one slow repeat

        result = camera.measure_fps(frame, 3, "a", repeats=5, warmup=2, device="cpu")
        assert calls == [(3, "a")] * 7  # warm-ups + repeats, the arguments passed through
        assert result["median_s"] == pytest.approx(0.010)
        assert result["fps"] == pytest.approx(100.0)  # the median ignores the slow one
        assert result["min_s"] == pytest.approx(0.010) and result["max_s"] == pytest.approx(0.05)
        assert result["fps_best"] == pytest.approx(100.0)
        assert (result["repeats"], result["warmup"], result["device"]) == (5, 2, "cpu")
        assert result["method"] == "perf_counter"

    def test_a_clock_that_does_not_tick_gives_infinity(self, monkeypatch):
        monkeypatch.setattr(time, "perf_counter", lambda: 1.0)
        assert camera.measure_fps(lambda: None, repeats=2)["fps"] == math.inf

    def test_a_sleeping_frame_is_at_most_100_fps(self):
        # sleep() lasts at least as long as asked: fps <= 100 cannot flake; > 1 catches a
        # milliseconds-for-seconds slip.
        result = camera.measure_fps(time.sleep, 0.01, repeats=3, warmup=0)
        assert 1.0 < result["fps"] <= 100.0

    @pytest.mark.parametrize(
        "kwargs,match",
        [
            ({"repeats": 0}, "measure_fps: repeats must be a positive integer"),
            ({"warmup": -1}, "measure_fps: warmup must be a non-negative integer"),
            ({"device": "tpu"}, "measure_fps: device must be 'cpu', 'cuda' or 'cuda:N'"),
        ],
    )
    def test_bad_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            camera.measure_fps(lambda: None, **kwargs)
        with pytest.raises(ValueError, match="measure_fps: fn must be callable"):
            camera.measure_fps(42)


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
def test_measure_fps_on_a_gpu_uses_cuda_events():
    torch = pytest.importorskip("torch")
    x = torch.rand(1024, 1024, device="cuda")
    result = camera.measure_fps(torch.matmul, x, x, repeats=5, device="cuda")
    assert result["method"] == "cuda_event" and result["device"] == "cuda:0"
    assert result["fps"] > 0 and result["min_s"] <= result["median_s"]


class TestRoofline:
    def test_the_table_is_sourced_and_its_derivations_hold(self):
        assert 2 <= len(camera.EMBEDDED_GPUS) <= 3
        for name, spec in camera.EMBEDDED_GPUS.items():
            assert spec["source"]["title"] and spec["source"]["url"].startswith("https://")
            for key in ("fp32_gflops", "fp16_gflops", "bandwidth_gbs"):
                assert spec[key] > 0 and key in spec["derivations"], (name, key)
            # FP32 on CUDA cores: cores x 2 flop per FMA x clock.
            assert spec["fp32_gflops"] == pytest.approx(
                spec["cuda_cores"] * 2 * spec["gpu_clock_mhz"] / 1e3
            )
        nano = camera.EMBEDDED_GPUS["Jetson Nano"]
        assert nano["fp32_gflops"] == pytest.approx(128 * 2 * 0.921)  # datasheet: 128 cores
        assert nano["bandwidth_gbs"] == 25.6  # printed on the datasheet
        orin = camera.EMBEDDED_GPUS["Jetson Orin Nano 8GB"]
        assert orin["fp32_gflops"] == pytest.approx(1024 * 2 * 0.625)
        # 32 tensor cores at 625 MHz doing the datasheet's ~20 dense INT8 TOPS, FP16 at half.
        assert orin["fp16_gflops"] / 1e3 == pytest.approx(20.0 / 2, rel=0.03)

    def test_compute_bound_by_hand(self):
        # 2.35776 GFLOP at 235.776 GFLOP/s is 10 ms; 64 MB at 25.6 GB/s is 2.5 ms.
        bound = camera.predict_fps(2.35776e9, 64e6, "Jetson Nano")
        assert bound["compute_s"] == pytest.approx(0.010)
        assert bound["memory_s"] == pytest.approx(0.0025)
        assert bound["seconds"] == pytest.approx(0.010) and bound["fps"] == pytest.approx(100.0)
        assert bound["bound"] == "compute"
        assert bound["intensity"] == pytest.approx(2.35776e9 / 64e6)
        assert bound["ridge_point"] == pytest.approx(235.776 / 25.6)
        assert bound["intensity"] > bound["ridge_point"]
        assert (bound["device"], bound["precision"]) == ("Jetson Nano", "fp32")

    def test_memory_bound_by_hand_and_fp16(self):
        # 1.28 GFLOP at 10.24 TFLOP/s is 0.125 ms; 68 MB at 68 GB/s is 1 ms: memory-bound.
        bound = camera.predict_fps(1.28e9, 68e6, "jetson orin nano 8gb", precision="FP16")
        assert bound["device"] == "Jetson Orin Nano 8GB" and bound["precision"] == "fp16"
        assert bound["compute_s"] == pytest.approx(1.25e-4)
        assert bound["memory_s"] == pytest.approx(1e-3)
        assert bound["bound"] == "memory" and bound["fps"] == pytest.approx(1000.0)
        assert bound["intensity"] < bound["ridge_point"] == pytest.approx(10240 / 68)
        # The same work in FP32 at 1.28 TFLOP/s takes 1 ms of compute: a tie counts as compute.
        tie = camera.predict_fps(1.28e9, 68e6, "Jetson Orin Nano 8GB", "fp32")
        assert tie["compute_s"] == pytest.approx(tie["memory_s"])
        assert tie["fps"] == pytest.approx(1000.0)

    def test_unknown_devices_and_precisions(self):
        with pytest.raises(
            ValueError,
            match=r"predict_fps: unknown device 'Jetson TX2'; known "
            r"devices are 'Jetson Nano', 'Jetson Orin Nano 8GB'",
        ):
            camera.predict_fps(1e9, 1e6, "Jetson TX2")
        with pytest.raises(ValueError, match="predict_fps: unknown device 3"):
            camera.predict_fps(1e9, 1e6, 3)
        with pytest.raises(ValueError, match="predict_fps: unknown precision 'int8'"):
            camera.predict_fps(1e9, 1e6, "Jetson Nano", precision="int8")
        for bad in (0, -1.0, math.nan, math.inf, "1e9", True):
            with pytest.raises(ValueError, match="predict_fps: flops must be"):
                camera.predict_fps(bad, 1e6, "Jetson Nano")
            with pytest.raises(ValueError, match="predict_fps: bytes must be"):
                camera.predict_fps(1e9, bad, "Jetson Nano")


K_GOOD = camera.intrinsic_matrix(500.0, 500.0, 320.0, 240.0)
R_GOOD, T_GOOD = camera.camera_pose(CAM_HEIGHT, TILT)
P_GOOD = camera.projection_matrix(K_GOOD, R_GOOD, T_GOOD)
H_GOOD = camera.ground_homography(K_GOOD, R_GOOD, T_GOOD)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: camera.intrinsic_matrix(0.0, 500, 320, 240), "intrinsic_matrix: fx must be pos"),
        (lambda: camera.intrinsic_matrix(500, -1, 320, 240), "intrinsic_matrix: fy must be pos"),
        (lambda: camera.intrinsic_matrix(500, 500, math.nan, 240), "cx must be a finite real"),
        (lambda: camera.intrinsic_matrix(500, 500, 320, "240"), "cy must be a finite real"),
        (lambda: camera.intrinsic_matrix(True, 500, 320, 240), "fx must be a finite real"),
        (lambda: camera.intrinsics_from_fov(640, 480, 70.0), r"hfov must be in \(0, pi\) radians"),
        (lambda: camera.intrinsics_from_fov(640, 480, 0.0), "hfov must be in"),
        (lambda: camera.intrinsics_from_fov(0, 480, 1.0), "intrinsics_from_fov: width must be"),
        (lambda: camera.intrinsics_from_fov(640, math.inf, 1.0), "height must be a finite"),
        (lambda: camera.camera_pose(0.0, 0.2), "camera_pose: height must be positive"),
        (lambda: camera.camera_pose(-1.0, 0.2), "camera_pose: height must be positive"),
        (lambda: camera.camera_pose(0.2, 12.0), r"tilt must be in \[0, pi/2\] radians"),
        (lambda: camera.camera_pose(0.2, -0.1), r"tilt must be in \[0, pi/2\]"),
        (lambda: camera.camera_pose(0.2, math.nan), "tilt must be a finite real number"),
        (
            lambda: camera.projection_matrix(K_GOOD[:2], R_GOOD, T_GOOD),
            r"K must have shape \(3, 3\)",
        ),
        (lambda: camera.projection_matrix(K_GOOD * 2, R_GOOD, T_GOOD), "K must be an intrinsic"),
        (
            lambda: camera.projection_matrix(np.diag([-1.0, 1.0, 1.0]), R_GOOD, T_GOOD),
            "focal lengths must be positive",
        ),
        (lambda: camera.projection_matrix(K_GOOD, 2 * R_GOOD, T_GOOD), "R must be a rotation"),
        (lambda: camera.projection_matrix(K_GOOD, -R_GOOD, T_GOOD), "R must be a rotation"),
        (lambda: camera.projection_matrix(K_GOOD, R_GOOD, T_GOOD[:2]), r"t must have shape \(3,\)"),
        (
            lambda: camera.projection_matrix(K_GOOD, R_GOOD, [0, math.nan, 0]),
            "projection_matrix: t contains NaN",
        ),
        (lambda: camera.ground_homography(K_GOOD, R_GOOD[:, :2], T_GOOD), r"R must have shape"),
        (lambda: camera.project_points(P_GOOD[:, :3], [[0, 1, 0]]), r"P must have shape \(3, 4\)"),
        (lambda: camera.project_points(P_GOOD, [[0, 1]]), r"points must have shape \(n, 3\)"),
        (lambda: camera.project_points(P_GOOD, [[0, 1, math.inf]]), "points contains infinity"),
        (lambda: camera.project_points(np.zeros((3, 4)), [[0, 1, 0]]), "P's left 3 x 3 block"),
        (lambda: camera.project_points(P_GOOD, [["a", 1, 0]]), "points must hold real numbers"),
        (lambda: camera.ground_to_pixel(H_GOOD, [[0, 1, 0]]), r"xy must have shape \(n, 2\)"),
        (lambda: camera.ground_to_pixel(np.ones((3, 3)), [[0, 1]]), "H is singular"),
        (lambda: camera.pixel_to_ground(H_GOOD[:2], [[0, 1]]), r"H must have shape \(3, 3\)"),
        (lambda: camera.pixel_to_ground(H_GOOD, [[0, math.nan]]), "uv contains NaN"),
        (
            lambda: camera.distance_from_box([0, 300, 10], K_GOOD, 0.2, TILT),
            r"box must have shape \(n, 4\)",
        ),
        (
            lambda: camera.distance_from_box([10, 300, 0, 310], K_GOOD, 0.2, TILT),
            "x2 >= x1 and y2 >= y1",
        ),
        (
            lambda: camera.distance_from_box([0, 310, 10, 300], K_GOOD, 0.2, TILT),
            "x2 >= x1 and y2 >= y1",
        ),
        (
            lambda: camera.distance_from_box([0, 300, 10, 310], K_GOOD, 0.0, TILT),
            "distance_from_box: height must be positive",
        ),
        (
            lambda: camera.distance_from_box([0, 300, 10, 310], K_GOOD, 0.2, 12.0),
            "distance_from_box: tilt must be in",
        ),
        (
            lambda: camera.distance_from_box([0, 300, 10, 310], K_GOOD[:2], 0.2, TILT),
            "distance_from_box: K must have shape",
        ),
    ],
)
def test_bad_inputs_raise_clear_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_importing_the_module_imports_no_framework():
    code = (
        "import sys, lapenna_labs.camera;"
        "bad = [m for m in ('torch', 'tensorflow') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
